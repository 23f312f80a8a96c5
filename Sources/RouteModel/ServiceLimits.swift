/// Timeouts and limits one service sets for itself (Pier extension labels `com.docker.lb.pier.*_timeout` and
/// `com.docker.lb.pier.max_body_size`), over the proxy-wide `ProxySettings`. Each nil keeps the global value.
///
/// The request header timeout has no per-service form: a request's service is known only once its head has
/// arrived.
public struct ServiceLimits: Hashable, Sendable {
    /// Overrides `ProxySettings.connectTimeout`.
    public var connectTimeout: Duration?
    /// Overrides `ProxySettings.readTimeout` (also the idle timeout of the service's WebSocket tunnels).
    public var readTimeout: Duration?
    /// Overrides `ProxySettings.sendTimeout`.
    public var sendTimeout: Duration?
    /// Overrides `ProxySettings.clientBodyTimeout`.
    public var clientBodyTimeout: Duration?
    /// Overrides `ProxySettings.keepaliveTimeout` after a response of this service.
    public var keepaliveTimeout: Duration?
    /// Overrides `ProxySettings.upstreamIdleTimeout` for pooled connections to the service's endpoints.
    public var upstreamIdleTimeout: Duration?
    /// Overrides `ProxySettings.clientMaxBodySize` (0: no limit).
    public var clientMaxBodySize: Int64?
    /// Overrides `ProxySettings.responseHeaderTimeout`.
    public var responseHeaderTimeout: Duration?
    /// Most connections open to each endpoint of the service, idle pooled ones included (nginx's `max_conns`);
    /// nil: no limit. Shared among Pier's event loops: each may open `maxConnections / loops` (at least 1).
    public var maxConnections: Int?

    /// No override.
    public init(connectTimeout: Duration? = nil, readTimeout: Duration? = nil, sendTimeout: Duration? = nil,
                clientBodyTimeout: Duration? = nil, keepaliveTimeout: Duration? = nil, upstreamIdleTimeout: Duration? = nil,
                clientMaxBodySize: Int64? = nil, responseHeaderTimeout: Duration? = nil, maxConnections: Int? = nil) {
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.sendTimeout = sendTimeout
        self.clientBodyTimeout = clientBodyTimeout
        self.keepaliveTimeout = keepaliveTimeout
        self.upstreamIdleTimeout = upstreamIdleTimeout
        self.clientMaxBodySize = clientMaxBodySize
        self.responseHeaderTimeout = responseHeaderTimeout
        self.maxConnections = maxConnections
    }

    /// Whether nothing is overridden.
    public var isEmpty: Bool { self == ServiceLimits() }

    /// `settings` with these overrides.
    public func applied(to settings: ProxySettings) -> ProxySettings {
        var s = settings
        if let connectTimeout { s.connectTimeout = connectTimeout }
        if let readTimeout { s.readTimeout = readTimeout }
        if let sendTimeout { s.sendTimeout = sendTimeout }
        if let clientBodyTimeout { s.clientBodyTimeout = clientBodyTimeout }
        if let keepaliveTimeout { s.keepaliveTimeout = keepaliveTimeout }
        if let upstreamIdleTimeout { s.upstreamIdleTimeout = upstreamIdleTimeout }
        if let clientMaxBodySize { s.clientMaxBodySize = clientMaxBodySize }
        if let responseHeaderTimeout { s.responseHeaderTimeout = responseHeaderTimeout }
        return s
    }
}

extension ServiceLimits: CustomStringConvertible {
    /// The overrides as `read=30s body=1048576` style text, for `pier routes`.
    public var description: String {
        var parts: [String] = []
        func add(_ name: String, _ d: Duration?) {
            if let d { parts.append("\(name)=\(d.nginxText)") }
        }
        add("connect", connectTimeout)
        add("read", readTimeout)
        add("send", sendTimeout)
        add("client_body", clientBodyTimeout)
        add("keepalive", keepaliveTimeout)
        add("upstream_idle", upstreamIdleTimeout)
        add("response_header", responseHeaderTimeout)
        if let clientMaxBodySize { parts.append("max_body=\(clientMaxBodySize)") }
        if let maxConnections { parts.append("max_conns=\(maxConnections)") }
        return parts.joined(separator: " ")
    }
}
