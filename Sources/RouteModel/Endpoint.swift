/// One place an upstream request can go: a task address (or a VIP, or a host-published port) and a port.
///
/// Endpoints are plain values; the data plane resolves and connects to them. `host` is an IP literal or a
/// name, never bracketed (IPv6 brackets are added only when printing).
public struct Endpoint: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// IP address or host name of the endpoint.
    public var host: String
    /// TCP port of the endpoint.
    public var port: Int

    /// Creates an endpoint.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with brackets around IPv6 literals.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public static func < (lhs: Endpoint, rhs: Endpoint) -> Bool {
        (lhs.host, lhs.port) < (rhs.host, rhs.port)
    }
}
