/// Host name normalisation and the host patterns routes are keyed by.
public enum HostName {
    /// Normalises a `Host` header or SNI value for matching: lower case, port removed, one trailing dot removed.
    ///
    /// Returns an empty string when nothing usable is left. IPv6 literals keep their brackets
    /// (`[::1]:8080` → `[::1]`) so that they never collide with a name.
    public static func normalize(_ raw: String) -> String {
        // Most Host headers are already normal (lower case, no port, no trailing dot): the same string then,
        // without a copy (a name over 15 bytes would cost an allocation per request).
        let normal = raw.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard let first = bytes.first, first != UInt8(ascii: "["), bytes.last != UInt8(ascii: ".") else { return false }
            for byte in bytes where (byte >= 0x41 && byte <= 0x5A) || byte == UInt8(ascii: ":") { return false }
            return true
        }
        return normal == true ? raw : normalize(Substring(raw))
    }

    public static func normalize(_ raw: Substring) -> String {
        // Works on UTF-8 bytes: this runs once per request, and Character-level operations (grapheme
        // breaking) cost more than the whole route lookup.
        let bytes = raw.utf8
        var end = bytes.endIndex
        if bytes.first == UInt8(ascii: "[") {
            if let close = bytes.firstIndex(of: UInt8(ascii: "]")) { end = bytes.index(after: close) }
        } else if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
            end = colon
        }
        var value = bytes[bytes.startIndex..<end]
        if value.last == UInt8(ascii: ".") { value = value.dropLast() }
        // Fast path: most host names are already lower case ASCII.
        if !value.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
            return String(Substring(value))
        }
        return String(decoding: value.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
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
