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

        /// Creates content.
        public init(routes: [Route], pools: [BackendPool], defaultRoute: Route?, settings: ProxySettings) {
            self.routes = routes.sorted()
            self.pools = pools
            self.defaultRoute = defaultRoute
            self.settings = settings
        }
    }

    /// Content and index behind one reference: taking a snapshot per request copies one pointer.
    private final class Storage: Sendable {
        let content: Content
        let index: HostIndex

        init(content: Content) {
            self.content = content
            self.index = HostIndex(routes: content.routes)
        }
    }

    /// Increases by one with every table a provider publishes.
    public let generation: UInt64
    private let storage: Storage

    /// The table's content.
    public var content: Content { storage.content }
    private var index: HostIndex { storage.index }

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

    /// Decides what to do with a request for `host` (raw `Host` header or nil) and `target` (origin-form
    /// request target: path and optional query).
    public func decide(host: String?, target: String) -> RouteDecision {
        let (rawPath, query) = RequestPath.split(target)
        let path = RequestPath.removingDotSegments(rawPath)
        let name = host.map { HostName.normalize($0) } ?? ""
        guard let trie = index.trie(for: name) else {
            guard let fallback = content.defaultRoute else { return .noRoute }
            return resolve(fallback, path: path, query: query, isDefault: true)
        }
        guard let routeIndex = trie.longestMatch(path) else { return .notFound }
        return resolve(content.routes[routeIndex], path: path, query: query, isDefault: false)
    }

    private func resolve(_ route: Route, path: Substring, query: Substring?, isDefault: Bool) -> RouteDecision {
        switch route.action {
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
    /// The host is known but no context root matches the path: 404.
    case notFound
    /// No route for the host and no default backend: 503.
    case noRoute
}

/// Host name → path trie, exact names first, then wildcards from the longest suffix.
private struct HostIndex: Sendable {
    var exact: [String: PathTrie] = [:]
    var wildcard: [String: PathTrie] = [:]

    init(routes: [Route]) {
        for (i, route) in routes.enumerated() {
            switch route.host {
            case .exact(let name):
                let trie = exact[name] ?? PathTrie()
                trie.insert(contextRoot: route.contextRoot, routeIndex: i)
                exact[name] = trie
            case .wildcard(let suffix):
                let trie = wildcard[suffix] ?? PathTrie()
                trie.insert(contextRoot: route.contextRoot, routeIndex: i)
                wildcard[suffix] = trie
            }
        }
    }

    func trie(for name: String) -> PathTrie? {
        if let trie = exact[name] { return trie }
        guard !wildcard.isEmpty else { return nil }
        // Try `b.example.org`, then `example.org`, … for `a.b.example.org`: most specific wildcard first.
        var rest = Substring(name)
        while let dot = rest.firstIndex(of: ".") {
            rest = rest[rest.index(after: dot)...]
            if let trie = wildcard[String(rest)] { return trie }
        }
        return nil
    }
}
