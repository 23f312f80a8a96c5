import RouteModel

/// A one-line summary of what changed between two tables, for the log.
public struct RouteTableDiff: CustomStringConvertible, Sendable {
    /// Routes present only in the new table.
    public var added: [String]
    /// Routes present only in the old table.
    public var removed: [String]
    /// Routes whose target, endpoints, balancing, health checks, limits or WebSocket paths changed.
    public var changed: [String]
    /// Whether proxy settings changed.
    public var settingsChanged: Bool

    /// Compares `old` (nil for the first table) with `new`.
    public init(from old: RouteTable?, to new: RouteTable) {
        /// Everything about a pool but its id (ids shift as pools come and go): endpoints, weights, balancing,
        /// health checks, limits, protocol.
        func signature(_ pool: BackendPool) -> String {
            var pool = pool
            pool.id = 0
            return String(describing: pool)
        }
        func keyed(_ t: RouteTable?) -> [String: String] {
            guard let t else { return [:] }
            var out: [String: String] = [:]
            for route in t.routes {
                var key = route.host.description + (route.contextRoot == "/" ? "" : route.contextRoot)
                if route.schemes != .both { key += route.schemes == .http ? " (http)" : " (https)" }
                switch route.action {
                case .proxy(let pool):
                    out[key] = "\(route.services) \(signature(t.pools[pool])) \(route.stripContextRoot) \(route.webSocketPaths)"
                case .redirect(let target, let status): out[key] = "\(status) \(target)"
                case .redirectToHTTPS: out[key] = "301 https"
                }
            }
            for (pattern, entry) in t.tls.entries {
                // Certificates by name and content: a rotated certificate shows as changed, never its key.
                switch entry {
                case .terminate(let certificate): out["tls:" + pattern.description] = "\(certificate.name) \(certificate.hashValue)"
                case .passthrough(let pool, let proxyProtocol):
                    out["tls:" + pattern.description] = "passthrough \(signature(t.pools[pool])) \(String(describing: proxyProtocol))"
                }
            }
            if let certificate = t.tls.defaultCertificate { out["tls:(default)"] = "\(certificate.name) \(certificate.hashValue)" }
            if let d = t.content.defaultRoute, case .proxy(let pool) = d.action {
                out["(default)"] = "\(d.services) \(signature(t.pools[pool]))"
            }
            return out
        }
        let a = keyed(old), b = keyed(new)
        added = b.keys.filter { a[$0] == nil }.sorted()
        removed = a.keys.filter { b[$0] == nil }.sorted()
        changed = b.keys.filter { a[$0] != nil && a[$0] != b[$0] }.sorted()
        settingsChanged = old.map { $0.settings != new.settings } ?? false
    }

    public var description: String {
        var parts: [String] = []
        if !added.isEmpty { parts.append("+" + added.joined(separator: " +")) }
        if !removed.isEmpty { parts.append("-" + removed.joined(separator: " -")) }
        if !changed.isEmpty { parts.append("~" + changed.joined(separator: " ~")) }
        if settingsChanged { parts.append("settings") }
        return parts.isEmpty ? "none" : parts.joined(separator: " ")
    }
}
