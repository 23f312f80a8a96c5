import RouteModel

/// The typed, validated form of one service's `com.docker.lb.*` labels.
public struct Labels: Hashable, Sendable {
    /// How the proxy reaches the service's tasks (`com.docker.lb.backend_mode`).
    public enum BackendMode: String, Hashable, Sendable {
        /// Each running task's address (the default).
        case task
        /// The service's virtual IP.
        case vip
    }

    /// One `source,target` pair of `com.docker.lb.redirects`.
    public struct Redirect: Hashable, Sendable {
        /// `http` or `https`: the entrypoint the redirect applies on.
        public var sourceScheme: String
        /// The host requests are redirected from, normalised.
        public var sourceHost: String
        /// The URL prefix redirected to, without trailing slash; the original path and query follow it.
        public var target: String
    }

    public var hosts: [HostPattern] = []
    public var port: Int?
    public var network: String?
    /// `/` when the label is absent.
    public var contextRoot: String = "/"
    public var contextRootRewrite = false
    public var sslCert: String?
    public var sslKey: String?
    public var sslPassthrough = false
    public var sslOnly = false
    public var websocketEndpoints: [String] = []
    public var serviceCluster: String = ""
    public var stickySessionCookie: String?
    public var ipHash = false
    public var redirects: [Redirect] = []
    public var backendMode: BackendMode = .task
    public var defaultBackend = false
    public var maxFails: Int?
    public var failTimeout: Duration?
    /// PROXY protocol version sent ahead of passthrough bytes (`com.docker.lb.pier.proxy_protocol`).
    public var proxyProtocol: ProxyProtocolVersion?
    /// The protocol toward the endpoints (`com.docker.lb.pier.upstream_protocol`).
    public var upstreamProtocol: UpstreamProtocol = .http1
    /// The service's share of a route it shares with other services (`com.docker.lb.pier.weight`, 0…10000).
    public var weight: Int?
    /// The policy asked for with `com.docker.lb.pier.balance` (round robin or least connections), if any.
    public var balance: BalancingPolicy?
    /// The service's own timeouts and body size limit (`com.docker.lb.pier.*_timeout`, `pier.max_body_size`).
    public var limits = ServiceLimits()
    /// The active health probe (`com.docker.lb.pier.health_path` and its companions), if asked for.
    public var activeHealth: ActiveHealthCheck?
    /// `pier.health_interval`, `pier.health_timeout`, `pier.health_status` as given (they need `health_path`).
    var healthInterval: Duration?
    var healthTimeout: Duration?
    var healthStatus: ClosedRange<Int>?

    /// The balancing policy the service asks for: `sticky_session_cookie` first (except with `ssl_passthrough`,
    /// where Pier sees no cookie), then `ip_hash`, then `pier.balance`, else round robin.
    public var policy: BalancingPolicy {
        if let cookie = stickySessionCookie, !sslPassthrough { return .cookie(cookie) }
        if ipHash { return .clientAddress }
        return balance ?? .roundRobin
    }

    /// Passive health checking as the service asks for it, nginx's defaults (1 failure, 10 s) where it does not.
    public var passiveHealth: PassiveHealth {
        let defaults = PassiveHealth()
        return PassiveHealth(maxFails: maxFails ?? defaults.maxFails, failTimeout: failTimeout ?? defaults.failTimeout)
    }

    /// Whether a label set declares the service for Pier at all (any `com.docker.lb.*` label).
    public static func isRouted(_ labels: [String: String]) -> Bool {
        labels.keys.contains { $0.hasPrefix(LabelKey.prefix) }
    }

    /// Parses and validates `labels` for `service`. Returns nil when an error leaves the service out; the
    /// issues then say every reason (all labels are checked, not only the first bad one).
    public static func parse(service: String, labels: [String: String]) -> (Labels?, [RouteIssue]) {
        var parser = LabelParser(service: service)
        let result = parser.parse(labels)
        return (parser.hasErrors ? nil : result, parser.issues)
    }

    /// The service cluster a label set names (`com.docker.lb.service_cluster`, "" when absent).
    public static func cluster(of labels: [String: String]) -> String {
        (labels[LabelKey.serviceCluster.label] ?? "").trimmingWhitespace()
    }

    /// A TCP port number 1…65535 written in decimal digits only.
    public static func parsePort(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int(text), (1...65535).contains(value)
        else { return nil }
        return value
    }
}
