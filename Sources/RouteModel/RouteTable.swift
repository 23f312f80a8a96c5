/// The immutable, versioned routing table: every route, pool and proxy setting of one snapshot.
///
/// Providers build a whole table and publish it; the data plane reads the current table once per request
/// and keeps it for that request. Lookups use a hash map by host, then a path trie: their cost does not grow
/// with the number of routes. `==` compares content and generation; `content == other.content` tells
/// whether anything changed.
public struct RouteTable: Sendable, Equatable {
    /// Everything that defines the table's behaviour; equal content means nothing changed.
    public struct Content: Sendable, Hashable {
        /// Routes, sorted by host then context root.
        public var routes: [Route]
        /// Pools, indexed by `BackendPool.id`.
        public var pools: [BackendPool]
        /// The route that takes requests for unknown hosts (`com.docker.lb.default_backend`), if any.
        public var defaultRoute: Route?
        /// Proxy-wide settings.
        public var settings: ProxySettings
        /// Certificates and passthrough hosts of the HTTPS entrypoint.
        public var tls: TLSTable

        /// Creates content.
        public init(routes: [Route], pools: [BackendPool], defaultRoute: Route?, settings: ProxySettings, tls: TLSTable = TLSTable()) {
            self.routes = routes.sorted()
            self.pools = pools
            self.defaultRoute = defaultRoute
            self.settings = settings
            self.tls = tls
        }
    }

    /// Content and indexes behind one reference: taking a snapshot per request copies one pointer.
    private final class Storage: Sendable {
        let content: Content
        let httpIndex: HostIndex
        /// The same object as `httpIndex` unless some route applies on one entrypoint only.
        let httpsIndex: HostIndex
        let tlsIndex: HostMap<TLSEntry>
        /// The settings of each pool's requests: the table's, with the pool's own limits over them.
        let poolSettings: [ProxySettings]

        init(content: Content) {
            self.content = content
            poolSettings = content.pools.map { $0.limits.applied(to: content.settings) }
            if content.routes.allSatisfy({ $0.schemes == .both }) {
                httpIndex = HostIndex(routes: content.routes, scheme: nil)
                httpsIndex = httpIndex
            } else {
                httpIndex = HostIndex(routes: content.routes, scheme: .http)
                httpsIndex = HostIndex(routes: content.routes, scheme: .https)
            }
            var tls = HostMap<TLSEntry>()
            for (pattern, entry) in content.tls.entries { tls[pattern] = entry }
            tlsIndex = tls
        }
    }

    /// Increases by one with every table a provider publishes.
    public let generation: UInt64
    private let storage: Storage

    /// The table's content.
    public var content: Content { storage.content }

    /// Builds the lookup index for `content`.
    public init(generation: UInt64, content: Content) {
        self.generation = generation
        self.storage = Storage(content: content)
    }

    private init(generation: UInt64, storage: Storage) {
        self.generation = generation
        self.storage = storage
    }

    /// A table with no routes: every request gets 503.
    public static func empty(settings: ProxySettings = ProxySettings()) -> RouteTable {
        RouteTable(generation: 0, content: Content(routes: [], pools: [], defaultRoute: nil, settings: settings))
    }

    /// Routes, sorted.
    public var routes: [Route] { content.routes }
    /// Pools by id.
    public var pools: [BackendPool] { content.pools }
    /// Proxy settings.
    public var settings: ProxySettings { content.settings }

    /// A copy with another generation number.
    public func with(generation: UInt64) -> RouteTable {
        RouteTable(generation: generation, storage: storage)
    }

    public static func == (lhs: RouteTable, rhs: RouteTable) -> Bool {
        lhs.generation == rhs.generation && (lhs.storage === rhs.storage || lhs.content == rhs.content)
    }

    /// The TLS table.
    public var tls: TLSTable { content.tls }

    /// The settings requests to pool `id` run under: the table's, with the pool's limits
    /// (`com.docker.lb.pier.*_timeout`, `pier.max_body_size`) over them.
    public func settings(forPool id: Int) -> ProxySettings {
        id < storage.poolSettings.count ? storage.poolSettings[id] : content.settings
    }

    /// Decides what to do with a request for `host` (raw `Host` header or nil) and `target` (origin-form
    /// request target: path and optional query) that arrived on the `scheme` entrypoint; `matched` becomes the
    /// matched route's index in `routes` (`routes.count`: the default route), untouched when none matched.
    public func decide(host: String?, target: String, scheme: Scheme = .http, matched: inout Int) -> RouteDecision {
        let (rawPath, query) = RequestPath.split(target)
        let path = RequestPath.removingDotSegments(rawPath)
        let name = host.map { HostName.normalize($0) } ?? ""
        let index = scheme == .http ? storage.httpIndex : storage.httpsIndex
        guard let trie = index.trie(for: name) else {
            guard let fallback = content.defaultRoute else { return .noRoute }
            matched = content.routes.count
            return resolve(fallback, host: name, path: path, query: query, isDefault: true)
        }
        guard let routeIndex = trie.longestMatch(path) else { return .notFound }
        matched = routeIndex
        return resolve(content.routes[routeIndex], host: name, path: path, query: query, isDefault: false)
    }

    /// Decides what the HTTPS entrypoint does with a connection whose ClientHello names `serverName`
    /// (nil: no SNI).
    public func decideTLS(serverName: String?) -> TLSDecision {
        if let serverName, let entry = storage.tlsIndex.lookup(HostName.normalize(serverName)) {
            switch entry {
            case .terminate(let certificate):
                return .terminate(certificate)
            case .passthrough(let pool, let proxyProtocol):
                return .passthrough(pool: content.pools[pool], proxyProtocol: proxyProtocol)
            }
        }
        if let certificate = content.tls.defaultCertificate { return .terminate(certificate) }
        return .reject
    }

    /// The name of the certificate a connection for `host` is terminated with (its own or the default), nil
    /// when the host would not be terminated. Requests on a connection whose certificate has another name
    /// are misdirected (421).
    public func certificateName(forHost host: String) -> String? {
        switch storage.tlsIndex.lookup(host) {
        case .terminate(let certificate)?: return certificate.name
        case .passthrough?: return nil
        case nil: return content.tls.defaultCertificate?.name
        }
    }

    private func resolve(_ route: Route, host: String, path: Substring, query: Substring?, isDefault: Bool) -> RouteDecision {
        switch route.action {
        case .redirectToHTTPS:
            return .redirectToHTTPS(host: host, target: joined(path, query))
        case .redirect(let target, let status):
            return .redirect(location: target + joined(path, query), status: status)
        case .proxy(let pool):
            guard route.stripContextRoot, route.contextRoot != "/", !isDefault else {
                return .forward(route: route, pool: content.pools[pool], target: joined(path, query))
            }
            // Drop the matched segments rather than the root's length: the trie skips slash runs, so
            // `//app/x` matches `/app` too, and a length-based cut would forward `p/x`.
            let rest = RequestPath.dropping(segments: RequestPath.segmentCount(route.contextRoot), from: path)
            if rest.isEmpty {
                // `/app` → `/app/`, as Interlock's rewrite does, so that relative links resolve under the root.
                return .redirect(location: joined(Substring(route.contextRoot + "/"), query), status: 301)
            }
            return .forward(route: route, pool: content.pools[pool], target: joined(rest, query))
        }
    }

    private func joined(_ path: Substring, _ query: Substring?) -> String {
        guard let query else { return String(path) }
        return path + "?" + query
    }
}

/// The outcome of a route lookup.
public enum RouteDecision: Sendable, Equatable {
    /// Proxy to `pool`, sending `target` (path and query, context root stripped where asked) upstream.
    case forward(route: Route, pool: BackendPool, target: String)
    /// Answer with a redirect.
    case redirect(location: String, status: Int)
    /// Answer with a permanent redirect to `https://host` (plus the HTTPS entrypoint's published port) and
    /// `target` (path and query).
    case redirectToHTTPS(host: String, target: String)
    /// The host is known but no context root matches the path: 404.
    case notFound
    /// No route for the host and no default backend: 503.
    case noRoute
}

/// Host name → path trie, exact names first, then wildcards from the longest suffix.
private final class HostIndex: Sendable {
    let map: HostMap<PathTrie>

    /// Indexes the routes that apply on `scheme` (nil: all routes).
    init(routes: [Route], scheme: Scheme?) {
        var map = HostMap<PathTrie>()
        for (i, route) in routes.enumerated() {
            if let scheme, !route.schemes.applies(on: scheme) { continue }
            let trie = map[route.host] ?? PathTrie()
            trie.insert(contextRoot: route.contextRoot, routeIndex: i)
            map[route.host] = trie
        }
        self.map = map
    }

    func trie(for name: String) -> PathTrie? { map.lookup(name) }
}
