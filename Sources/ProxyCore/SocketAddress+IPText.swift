#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

extension SocketAddress {
    /// The IP address as text, as `ipAddress` gives it (`inet_ntop`), with the conversion buffer on the stack:
    /// `ipAddress` allocates one on the heap, once per accepted connection (the client address Pier forwards).
    var ipText: String? {
        switch self {
        case .v4(let address):
            var raw = address.address.sin_addr
            return Self.text(family: AF_INET, &raw, length: Int(INET_ADDRSTRLEN))
        case .v6(let address):
            var raw = address.address.sin6_addr
            return Self.text(family: AF_INET6, &raw, length: Int(INET6_ADDRSTRLEN))
        case .unixDomainSocket:
            return nil
        }
    }

    private static func text<Raw>(family: Int32, _ raw: inout Raw, length: Int) -> String? {
        withUnsafeMutablePointer(to: &raw) { pointer in
            withUnsafeTemporaryAllocation(of: CChar.self, capacity: length) { buffer -> String? in
                guard let base = buffer.baseAddress, inet_ntop(family, pointer, base, socklen_t(length)) != nil else { return nil }
                return String(cString: base)
            }
        }
    }
}
