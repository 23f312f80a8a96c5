import NIOCore
import RouteModel

/// The PROXY protocol header (HAProxy's specification, versions 1 and 2) that tells a passthrough backend
/// the client's address. Pure: bytes from two addresses.
enum ProxyProtocolHeader {
    private static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// The header for a TCP connection from `source` (the client) to `destination` (Pier's entrypoint).
    /// Addresses of different families, or not IP at all, give the `UNKNOWN`/`LOCAL` form.
    static func encode(_ version: ProxyProtocolVersion, source: SocketAddress?, destination: SocketAddress?) -> [UInt8] {
        switch version {
        case .v1: return Array(v1(source: source, destination: destination).utf8)
        case .v2: return v2(source: source, destination: destination)
        }
    }

    static func v1(source: SocketAddress?, destination: SocketAddress?) -> String {
        switch (source, destination) {
        case (.v4?, .v4?), (.v6?, .v6?):
            let family = source!.protocol == .inet ? "TCP4" : "TCP6"
            return "PROXY \(family) \(source!.ipAddress!) \(destination!.ipAddress!) \(source!.port!) \(destination!.port!)\r\n"
        default:
            return "PROXY UNKNOWN\r\n"
        }
    }

    static func v2(source: SocketAddress?, destination: SocketAddress?) -> [UInt8] {
        var bytes = v2Signature
        func port(_ address: SocketAddress) -> [UInt8] {
            let p = UInt16(address.port ?? 0)
            return [UInt8(p >> 8), UInt8(p & 0xFF)]
        }
        switch (source, destination) {
        case (.v4(let s)?, .v4(let d)?):
            bytes += [0x21, 0x11, 0x00, 12]
            withUnsafeBytes(of: s.address.sin_addr) { bytes += $0 }
            withUnsafeBytes(of: d.address.sin_addr) { bytes += $0 }
            bytes += port(source!) + port(destination!)
        case (.v6(let s)?, .v6(let d)?):
            bytes += [0x21, 0x21, 0x00, 36]
            withUnsafeBytes(of: s.address.sin6_addr) { bytes += $0 }
            withUnsafeBytes(of: d.address.sin6_addr) { bytes += $0 }
            bytes += port(source!) + port(destination!)
        default:
            // LOCAL command, no address: the backend uses the connection's own addresses.
            bytes += [0x20, 0x00, 0x00, 0x00]
        }
        return bytes
    }
}
