/// Values keyed by host pattern, looked up by a normalised name: exact names first, then wildcards from the
/// longest suffix. Used for the HTTP route index and for the TLS table (SNI → certificate or passthrough).
public struct HostMap<Value: Sendable>: Sendable {
    private var exact: [String: Value] = [:]
    private var wildcard: [String: Value] = [:]

    /// An empty map.
    public init() {}

    /// The value stored for exactly this pattern.
    public subscript(pattern: HostPattern) -> Value? {
        get {
            switch pattern {
            case .exact(let name): return exact[name]
            case .wildcard(let suffix): return wildcard[suffix]
            }
        }
        set {
            switch pattern {
            case .exact(let name): exact[name] = newValue
            case .wildcard(let suffix): wildcard[suffix] = newValue
            }
        }
    }

    /// The value for normalised `name`: its exact entry, else the wildcard with the longest matching suffix.
    public func lookup(_ name: String) -> Value? {
        if let value = exact[name] { return value }
        guard !wildcard.isEmpty else { return nil }
        // Try `b.example.org`, then `example.org`, … for `a.b.example.org`: most specific wildcard first.
        var rest = Substring(name)
        while let dot = rest.firstIndex(of: ".") {
            rest = rest[rest.index(after: dot)...]
            if let value = wildcard[String(rest)] { return value }
        }
        return nil
    }
}
