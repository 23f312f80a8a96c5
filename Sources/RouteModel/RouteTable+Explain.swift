/// What `pier explain` asks a table besides `decide`: which host pattern and route a request takes and which
/// other routes were in the running. The lookups here build a small index per call (O(routes)): they serve
/// one question from an operator, never the data plane, whose indexes stay private to `RouteTable`.
extension RouteTable {
    /// The routes one entrypoint looked at for a host name and path.
    public struct RouteMatch: Sendable, Equatable {
        /// The host pattern whose routes were looked at (exact name first, then the longest wildcard); nil when
        /// no route of the entrypoint answers for the name.
        public var pattern: HostPattern?
        /// Indices into `routes` of the pattern's routes that apply on the entrypoint.
        public var candidates: [Int]
        /// The route taken: the longest context root that is a segment prefix of the path; nil when none
        /// is (404 when `pattern` is set; the default route or 503 when not).
        public var routeIndex: Int?
    }

    /// The routes the `scheme` entrypoint looks at for normalised `name` and `path` (dot segments removed, no
    /// query), with the same host map and path trie `decide` uses.
    public func match(name: String, path: Substring, scheme: Scheme) -> RouteMatch {
        let applicable = routes.indices.filter { routes[$0].schemes.applies(on: scheme) }
        guard let pattern = HostPattern.winner(for: name, among: applicable.map { routes[$0].host }) else {
            return RouteMatch(pattern: nil, candidates: [], routeIndex: nil)
        }
        let trie = PathTrie()
        let candidates = applicable.filter { routes[$0].host == pattern }
        for index in candidates { trie.insert(contextRoot: routes[index].contextRoot, routeIndex: index) }
        return RouteMatch(pattern: pattern, candidates: candidates, routeIndex: trie.longestMatch(path))
    }

    /// The TLS table's entry for normalised `serverName` and the pattern it is stored under; nil when the
    /// name has none (the default certificate, if any, then applies).
    public func tlsEntry(forServerName serverName: String) -> (pattern: HostPattern, entry: TLSEntry)? {
        guard let pattern = HostPattern.winner(for: serverName, among: tls.entries.keys) else { return nil }
        return (pattern, tls.entries[pattern]!)
    }
}

extension HostPattern {
    /// Whether the pattern answers for normalised `name` (a wildcard needs at least one label in front).
    public func matches(_ name: String) -> Bool {
        switch self {
        case .exact(let exact): return exact == name
        case .wildcard(let suffix): return name.utf8.count > suffix.utf8.count + 1 && name.hasSuffix("." + suffix)
        }
    }

    /// The pattern among `patterns` that a lookup of `name` takes, by the rule of `HostMap.lookup`: the exact
    /// name, else the wildcard with the longest suffix.
    public static func winner(for name: String, among patterns: some Sequence<HostPattern>) -> HostPattern? {
        var map = HostMap<HostPattern>()
        for pattern in patterns { map[pattern] = pattern }
        return map.lookup(name)
    }
}
