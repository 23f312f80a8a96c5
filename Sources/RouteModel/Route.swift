/// Where the requests of one route go: the services that share it and their endpoints.
///
/// Several services that claim the same host without a context root (Interlock's canary case) share one pool;
/// its endpoints are the union of theirs, so traffic splits in proportion to their endpoint counts, or to the
/// services' weights when they give some (`weights`).
public struct BackendPool: Hashable, Sendable {
    /// Index of the pool in its route table; the data plane keys per-pool balancing state by it.
    public var id: Int
    /// Names of the services whose endpoints make up the pool, sorted.
    public var services: [String]
    /// The endpoints, in a stable order (by service, then sorted).
    public var endpoints: [Endpoint]
    /// How requests travel to the endpoints.
    public var upstreamProtocol: UpstreamProtocol
    /// Relative weight of each endpoint, parallel to `endpoints`; empty means all equal. An endpoint of weight 0
    /// gets no requests, unless every weight is 0 (then they count as equal). A list whose length differs from
    /// `endpoints` is ignored.
    public var weights: [Double]
    /// How requests are spread over the endpoints.
    public var policy: BalancingPolicy
    /// When failing endpoints are skipped.
    public var passiveHealth: PassiveHealth
    /// The probe Pier sends the endpoints on its own, if the services ask for one.
    public var activeHealth: ActiveHealthCheck?
    /// Timeouts and limits the services set over the proxy-wide settings.
    public var limits: ServiceLimits

    /// Creates a pool.
    public init(id: Int, services: [String], endpoints: [Endpoint], upstreamProtocol: UpstreamProtocol = .http1,
                weights: [Double] = [], policy: BalancingPolicy = .roundRobin, passiveHealth: PassiveHealth = PassiveHealth(),
                activeHealth: ActiveHealthCheck? = nil, limits: ServiceLimits = ServiceLimits()) {
        self.id = id
        self.services = services
        self.endpoints = endpoints
        self.upstreamProtocol = upstreamProtocol
        self.weights = weights
        self.policy = policy
        self.passiveHealth = passiveHealth
        self.activeHealth = activeHealth
        self.limits = limits
    }
}

/// The protocol Pier speaks to a pool's endpoints (`com.docker.lb.pier.upstream_protocol`).
public enum UpstreamProtocol: String, Hashable, Sendable {
    /// HTTP/1.1 with pooled keep-alive connections (the default).
    case http1
    /// HTTP/2 over cleartext with prior knowledge (gRPC servers): one connection per endpoint and event loop,
    /// one stream per request.
    case h2c
}

/// What a route does with a matching request.
public enum RouteAction: Hashable, Sendable {
    /// Proxy to the pool with this id.
    case proxy(pool: Int)
    /// Answer with a redirect to `target` followed by the original path and query (Interlock's
    /// `com.docker.lb.redirects`). `target` has no trailing slash.
    case redirect(target: String, status: Int)
    /// Answer with a permanent redirect to the same host, path and query over HTTPS
    /// (`com.docker.lb.ssl_only`).
    case redirectToHTTPS
}

/// The entrypoint scheme a request arrived on.
public enum Scheme: String, Hashable, Sendable {
    case http, https
}

/// The entrypoints a route applies on.
public struct RouteSchemes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Plain HTTP.
    public static let http = RouteSchemes(rawValue: 1)
    /// HTTPS (terminated TLS, HTTP/1.1 or HTTP/2).
    public static let https = RouteSchemes(rawValue: 2)
    /// Both entrypoints.
    public static let both: RouteSchemes = [.http, .https]

    /// Whether a request on `scheme` takes the route.
    public func applies(on scheme: Scheme) -> Bool {
        contains(scheme == .http ? RouteSchemes.http : RouteSchemes.https)
    }
}

/// One entry of the route table: a host pattern and a context root, and what to do with matching requests.
public struct Route: Hashable, Sendable, Comparable {
    /// The host this route answers for.
    public var host: HostPattern
    /// The path prefix, `/` for the whole host; never ends in `/` otherwise.
    public var contextRoot: String
    /// Whether the context root is stripped before proxying (`com.docker.lb.context_root_rewrite`).
    public var stripContextRoot: Bool
    /// What to do.
    public var action: RouteAction
    /// The services that declared the route, sorted (one, or several for a canary).
    public var services: [String]
    /// The entrypoints the route applies on.
    public var schemes: RouteSchemes
    /// Path prefixes on which WebSocket upgrades are forwarded (`com.docker.lb.websocket_endpoints`), sorted;
    /// each starts with `/` and has no trailing `/` (except `/` itself).
    public var webSocketPaths: [String]

    /// Creates a route.
    public init(host: HostPattern, contextRoot: String, stripContextRoot: Bool, action: RouteAction, services: [String],
                schemes: RouteSchemes = .both, webSocketPaths: [String] = []) {
        self.host = host
        self.contextRoot = contextRoot
        self.stripContextRoot = stripContextRoot
        self.action = action
        self.services = services
        self.schemes = schemes
        self.webSocketPaths = webSocketPaths
    }

    /// Whether a WebSocket upgrade for `path` (the request's path as the client sent it, dot segments
    /// removed, no query) may be forwarded: it is one of `webSocketPaths` or below one, segment by segment
    /// (`/ws` accepts `/ws` and `/ws/room`, not `/wsx`).
    public func acceptsWebSocket(path: Substring) -> Bool {
        webSocketPaths.contains { prefix in
            prefix == "/" || path == prefix || (path.hasPrefix(prefix) && path.dropFirst(prefix.count).first == "/")
        }
    }

    public static func < (lhs: Route, rhs: Route) -> Bool {
        (lhs.host.description, lhs.contextRoot, lhs.schemes.rawValue) < (rhs.host.description, rhs.contextRoot, rhs.schemes.rawValue)
    }
}
