#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

extension ProxyServer {
    /// An entrypoint whose listening socket could not be opened: which one, on which address, and why.
    ///
    /// NIO's own error names only the system call (`bind(descriptor:ptr:bytes:): Address already in use`),
    /// which leaves a user with two entrypoints guessing which one to move.
    public struct BindError: Error, CustomStringConvertible {
        /// `HTTP` or `HTTPS`.
        public var entrypoint: String
        /// The address as configured, `host:port` (`[v6]:port`).
        public var address: String
        /// Why, in words: `address already in use`, `permission denied` …
        public var reason: String
        /// The system error number, when the failure was one.
        public var systemError: Int32?

        init(entrypoint: String, host: String, port: Int, error: any Error) {
            self.entrypoint = entrypoint
            self.address = ProxyServer.display(host: host, port: port)
            let code = (error as? IOError)?.errnoCode
            self.systemError = code
            switch code {
            case EADDRINUSE: reason = "address already in use (another process listens there)"
            case EACCES: reason = "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            case EADDRNOTAVAIL: reason = "address not available (no interface of this machine has it)"
            default: reason = "\(error)"
            }
        }

        public var description: String { "cannot listen on the \(entrypoint) entrypoint \(address): \(reason)" }
    }

    /// An address as users write it (`127.0.0.1:8080`, `[::1]:8080`), not NIO's `[IPv4]127.0.0.1/127.0.0.1:8080`.
    static func display(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static func display(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return display(host: ip, port: port)
    }
}
