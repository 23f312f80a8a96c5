/// Host name normalisation and the host patterns routes are keyed by.
public enum HostName {
    /// Normalises a `Host` header or SNI value for matching: lower case, port removed, one trailing dot removed.
    ///
    /// Returns an empty string when nothing usable is left. IPv6 literals keep their brackets
    /// (`[::1]:8080` → `[::1]`) so that they never collide with a name.
    public static func normalize(_ raw: some StringProtocol) -> String {
        var value = Substring(raw)
        if value.first == "[" {
            if let close = value.firstIndex(of: "]") {
                value = value[...close]
            }
        } else if let colon = value.lastIndex(of: ":") {
            value = value[..<colon]
        }
        if value.last == "." {
            value = value.dropLast()
        }
        // Fast path: most host names are already lower case ASCII.
        if value.utf8.allSatisfy({ !($0 >= 0x41 && $0 <= 0x5A) }) {
            return String(value)
        }
        return value.lowercased()
    }
}

/// A host a route answers for: an exact name (`app.example.org`) or a wildcard (`*.example.org`).
///
/// A wildcard matches any name that ends in `.` + its suffix, with one or more labels in front
/// (`*.example.org` matches `a.example.org` and `a.b.example.org`, not `example.org`), as nginx does.
/// When several wildcards match, the longest suffix wins; an exact name always beats a wildcard.
public enum HostPattern: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Matches exactly this normalised name.
    case exact(String)
    /// Matches any name ending in `.` + this suffix (stored without the `*.`).
    case wildcard(suffix: String)

    /// Parses a normalised pattern (`*.example.org` or `app.example.org`).
    public init(_ pattern: String) {
        if pattern.hasPrefix("*.") {
            self = .wildcard(suffix: String(pattern.dropFirst(2)))
        } else {
            self = .exact(pattern)
        }
    }

    /// The pattern as users write it.
    public var description: String {
        switch self {
        case .exact(let name): return name
        case .wildcard(let suffix): return "*." + suffix
        }
    }

    public static func < (lhs: HostPattern, rhs: HostPattern) -> Bool {
        lhs.description < rhs.description
    }
}
