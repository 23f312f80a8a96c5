/// Where the requests of one route go: the services that share it and their endpoints.
///
/// Several services that claim the same host without a context root (Interlock's canary case) share one pool;
/// its endpoints are the union of theirs, so traffic splits in proportion to their endpoint counts, or to the
/// services' weights when they give some (`weights`).
public struct BackendPool: Hashable, Sendable {
    /// The pool's values, in one shared box: a pool is copied per request (into the decision, the plan and the
    /// exchange), and copying a box retains one object where copying the fields retained every array and
    /// string — each a cache miss in a 100,000-route table.
    private var shared: Shared<Fields>

    struct Fields: Hashable, Sendable {
        var id: Int
        var services: [String]
        var endpoints: [Endpoint]
        var upstreamProtocol: UpstreamProtocol
        var weights: [Double]
        var policy: BalancingPolicy
        var passiveHealth: PassiveHealth
        var activeHealth: ActiveHealthCheck?
        var limits: ServiceLimits
    }

    /// Index of the pool in its route table; the data plane keys per-pool balancing state by it.
    public var id: Int {
        get { shared.value.id }
        set { shared = shared.with { $0.id = newValue } }
    }
    /// Names of the services whose endpoints make up the pool, sorted.
    public var services: [String] {
        get { shared.value.services }
        set { shared = shared.with { $0.services = newValue } }
    }
    /// The endpoints, in a stable order (by service, then sorted).
    public var endpoints: [Endpoint] {
        get { shared.value.endpoints }
        set { shared = shared.with { $0.endpoints = newValue } }
    }
    /// How requests travel to the endpoints.
    public var upstreamProtocol: UpstreamProtocol {
        get { shared.value.upstreamProtocol }
        set { shared = shared.with { $0.upstreamProtocol = newValue } }
    }
    /// Relative weight of each endpoint, parallel to `endpoints`; empty means all equal. An endpoint of weight 0
    /// gets no requests, unless every weight is 0 (then they count as equal). A list whose length differs from
    /// `endpoints` is ignored.
    public var weights: [Double] {
        get { shared.value.weights }
        set { shared = shared.with { $0.weights = newValue } }
    }
    /// How requests are spread over the endpoints.
    public var policy: BalancingPolicy {
        get { shared.value.policy }
        set { shared = shared.with { $0.policy = newValue } }
    }
    /// When failing endpoints are skipped.
    public var passiveHealth: PassiveHealth {
        get { shared.value.passiveHealth }
        set { shared = shared.with { $0.passiveHealth = newValue } }
    }
    /// The probe Pier sends the endpoints on its own, if the services ask for one.
    public var activeHealth: ActiveHealthCheck? {
        get { shared.value.activeHealth }
        set { shared = shared.with { $0.activeHealth = newValue } }
    }
    /// Timeouts and limits the services set over the proxy-wide settings.
    public var limits: ServiceLimits {
        get { shared.value.limits }
        set { shared = shared.with { $0.limits = newValue } }
    }

    /// Creates a pool.
    public init(id: Int, services: [String], endpoints: [Endpoint], upstreamProtocol: UpstreamProtocol = .http1,
                weights: [Double] = [], policy: BalancingPolicy = .roundRobin, passiveHealth: PassiveHealth = PassiveHealth(),
                activeHealth: ActiveHealthCheck? = nil, limits: ServiceLimits = ServiceLimits()) {
        shared = Shared(Fields(id: id, services: services, endpoints: endpoints, upstreamProtocol: upstreamProtocol,
                               weights: weights, policy: policy, passiveHealth: passiveHealth, activeHealth: activeHealth,
                               limits: limits))
    }

    public static func == (lhs: BackendPool, rhs: BackendPool) -> Bool {
        lhs.shared === rhs.shared || lhs.shared.value == rhs.shared.value
    }

    public func hash(into hasher: inout Hasher) {
        shared.value.hash(into: &hasher)
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
    /// The route's values, in one shared box (see `BackendPool`): a decision copies its route per request.
    private var shared: Shared<Fields>

    struct Fields: Hashable, Sendable {
        var host: HostPattern
        var contextRoot: String
        var stripContextRoot: Bool
        var action: RouteAction
        var services: [String]
        var schemes: RouteSchemes
        var webSocketPaths: [String]
    }

    /// The host this route answers for.
    public var host: HostPattern {
        get { shared.value.host }
        set { shared = shared.with { $0.host = newValue } }
    }
    /// The path prefix, `/` for the whole host; never ends in `/` otherwise.
    public var contextRoot: String {
        get { shared.value.contextRoot }
        set { shared = shared.with { $0.contextRoot = newValue } }
    }
    /// Whether the context root is stripped before proxying (`com.docker.lb.context_root_rewrite`).
    public var stripContextRoot: Bool {
        get { shared.value.stripContextRoot }
        set { shared = shared.with { $0.stripContextRoot = newValue } }
    }
    /// What to do.
    public var action: RouteAction {
        get { shared.value.action }
        set { shared = shared.with { $0.action = newValue } }
    }
    /// The services that declared the route, sorted (one, or several for a canary).
    public var services: [String] {
        get { shared.value.services }
        set { shared = shared.with { $0.services = newValue } }
    }
    /// The entrypoints the route applies on.
    public var schemes: RouteSchemes {
        get { shared.value.schemes }
        set { shared = shared.with { $0.schemes = newValue } }
    }
    /// Path prefixes on which WebSocket upgrades are forwarded (`com.docker.lb.websocket_endpoints`), sorted;
    /// each starts with `/` and has no trailing `/` (except `/` itself).
    public var webSocketPaths: [String] {
        get { shared.value.webSocketPaths }
        set { shared = shared.with { $0.webSocketPaths = newValue } }
    }

    /// Creates a route.
    public init(host: HostPattern, contextRoot: String, stripContextRoot: Bool, action: RouteAction, services: [String],
                schemes: RouteSchemes = .both, webSocketPaths: [String] = []) {
        shared = Shared(Fields(host: host, contextRoot: contextRoot, stripContextRoot: stripContextRoot, action: action,
                               services: services, schemes: schemes, webSocketPaths: webSocketPaths))
    }

    public static func == (lhs: Route, rhs: Route) -> Bool {
        lhs.shared === rhs.shared || lhs.shared.value == rhs.shared.value
    }

    public func hash(into hasher: inout Hasher) {
        shared.value.hash(into: &hasher)
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

extension BackendPool: CustomStringConvertible {
    /// Every field, as the synthesized description of a plain struct would print them (reload diffs compare it).
    public var description: String { "BackendPool" + String(describing: shared.value).dropFirst("Fields".count) }
}

extension Route: CustomStringConvertible {
    /// Every field, as the synthesized description of a plain struct would print them.
    public var description: String { "Route" + String(describing: shared.value).dropFirst("Fields".count) }
}

/// An immutable value in a class box, shared by every copy of the struct that holds it; a change makes a new
/// box (changes happen while a table is compiled, never on the data plane).
final class Shared<Value: Sendable>: Sendable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }

    /// A new box with `change` applied to a copy of the value.
    func with(_ change: (inout Value) -> Void) -> Shared<Value> {
        var copy = value
        change(&copy)
        return Shared(copy)
    }
}
