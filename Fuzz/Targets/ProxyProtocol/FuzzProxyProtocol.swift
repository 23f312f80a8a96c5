import FuzzSupport
import NIOCore

@testable import ProxyCore

/// The PROXY protocol writer's inputs: a client and an entrypoint address of any family (IPv4, IPv6, a Unix
/// socket, none) with any address bytes and port, for both versions.
///
/// Input: per address two port bytes, a family byte (IPv4, IPv6, Unix socket, none) and its address bytes
/// (4, 16, or a path ending in a NUL byte).
///
/// Invariants (HAProxy's specification): v1 is one line, `PROXY TCP4|TCP6 src dst sport dport\r\n` or
/// `PROXY UNKNOWN\r\n`, at most 107 bytes, whose fields read back as the addresses given; v2 is the
/// signature, version 2 with PROXY or LOCAL, a length that counts exactly the bytes that follow, and the
/// addresses and ports in network order.
enum FuzzProxyProtocol: FuzzTarget {
    static func run(_ input: inout FuzzInput) {
        let source = address(&input)
        let destination = address(&input)
        let sameFamily: Bool
        switch (source, destination) {
        case (.v4?, .v4?), (.v6?, .v6?): sameFamily = true
        default: sameFamily = false
        }

        let v1 = ProxyProtocolHeader.encode(.v1, source: source, destination: destination)
        fuzzCheck(v1.count <= 107, "v1 header of \(v1.count) bytes")
        // Bytes, not Characters: "\r\n" is one Character.
        let line = String(decoding: v1, as: UTF8.self)
        let body = v1.dropLast(2)
        fuzzCheck(v1.suffix(2) == [0x0D, 0x0A] && !body.contains(0x0D) && !body.contains(0x0A), "v1 is not one line: \(line.debugDescription)")
        let fields = body.split(separator: 0x20, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if sameFamily, let source, let destination {
            fuzzCheck(fields.count == 6 && fields[0] == "PROXY" && fields[1] == (source.protocol == .inet ? "TCP4" : "TCP6"), "v1 \(line.debugDescription)")
            fuzzCheck(readsBack(fields[2], fields[4], as: source) && readsBack(fields[3], fields[5], as: destination), "v1 addresses \(line.debugDescription)")
        } else {
            fuzzCheck(line == "PROXY UNKNOWN\r\n", "v1 for mixed families: \(line.debugDescription)")
        }

        let v2 = ProxyProtocolHeader.encode(.v2, source: source, destination: destination)
        fuzzCheck(v2.count >= 16 && Array(v2[0..<12]) == [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A], "v2 signature")
        fuzzCheck(Int(v2[14]) << 8 | Int(v2[15]) == v2.count - 16, "v2 length field \(v2[14]) \(v2[15]) for \(v2.count) bytes")
        guard sameFamily, let source, let destination else {
            fuzzCheck(Array(v2[12..<16]) == [0x20, 0x00, 0x00, 0x00], "v2 LOCAL for mixed families")
            return
        }
        let width = source.protocol == .inet ? 4 : 16
        fuzzCheck(v2[12] == 0x21 && v2[13] == (width == 4 ? 0x11 : 0x21) && v2.count == 16 + 2 * width + 4, "v2 PROXY header")
        fuzzCheck(Array(v2[16..<16 + width]) == addressBytes(source) && Array(v2[16 + width..<16 + 2 * width]) == addressBytes(destination), "v2 addresses")
        let ports = Array(v2[(16 + 2 * width)...])
        fuzzCheck(Int(ports[0]) << 8 | Int(ports[1]) == source.port && Int(ports[2]) << 8 | Int(ports[3]) == destination.port, "v2 ports")
    }

    /// An address of the family one byte chooses, from the bytes that follow.
    static func address(_ input: inout FuzzInput) -> SocketAddress? {
        let port = Int(input.integer(width: 2))
        switch input.choice(4) {
        case 0:
            let text = input.bytes(4).map(String.init).joined(separator: ".")
            return try? SocketAddress(ipAddress: text, port: port)
        case 1:
            let bytes = input.bytes(16) + [UInt8](repeating: 0, count: 16)
            let groups = (0..<8).map { String(UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]), radix: 16) }
            return try? SocketAddress(ipAddress: groups.joined(separator: ":"), port: port)
        case 2:
            return try? SocketAddress(unixDomainSocketPath: "/tmp/" + input.string())
        default:
            return nil
        }
    }

    /// Whether a v1 address and port field name `address` exactly (ports in decimal without leading zeros).
    static func readsBack(_ ip: String, _ port: String, as address: SocketAddress) -> Bool {
        guard let parsed = try? SocketAddress(ipAddress: ip, port: 0) else { return false }
        return addressBytes(parsed) == addressBytes(address) && port == String(address.port!)
    }

    static func addressBytes(_ address: SocketAddress) -> [UInt8] {
        switch address {
        case .v4(let a): return withUnsafeBytes(of: a.address.sin_addr) { Array($0) }
        case .v6(let a): return withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
        default: return []
        }
    }
}

#if PIER_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { FuzzProxyProtocol.fuzzOne(data, size) }
#else
@main extension FuzzProxyProtocol {}
#endif
