/// Host name normalisation and the host patterns routes are keyed by.
public enum HostName {
    /// Normalises a `Host` header or SNI value for matching: lower case, port removed, one trailing dot removed.
    ///
    /// Returns an empty string when nothing usable is left, or when the value is not a host name at all: a
    /// byte outside RFC 3986's host characters (`/`, `@`, `?`, `#`, `\\`, space, controls, non-ASCII), an
    /// empty label (`a..b`, `a..`) or a colon left after the port. Such a value must not match a wildcard
    /// route (`evil.test/x.example.org` ends in `.example.org`) and then be written into a redirect's
    /// `Location`. IPv6 literals keep their brackets (`[::1]:8080` → `[::1]`) so that they never collide with
    /// a name.
    public static func normalize(_ raw: String) -> String {
        // Most Host headers are already normal (lower case host characters, no port, no trailing dot, no empty
        // label): the same string then, without a copy (a name over 15 bytes would cost an allocation per request).
        isNormal(raw) ? raw : normalize(Substring(raw))
    }

    /// Whether `raw` is its own normal form (`normalize` would give it back unchanged, without a copy): a
    /// non-empty name of lower-case host characters, no port, no trailing dot, no empty label.
    public static func isNormal(_ raw: String) -> Bool {
        let normal = raw.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard let first = bytes.first, first != UInt8(ascii: "["), bytes.last != UInt8(ascii: ".") else { return false }
            var previous: UInt8 = 0
            for byte in bytes {
                if (byte >= 0x41 && byte <= 0x5A) || !isNameByte(byte) || (byte == dot && previous == dot) { return false }
                previous = byte
            }
            return true
        }
        return normal == true
    }

    public static func normalize(_ raw: Substring) -> String {
        // Works on UTF-8 bytes: this runs once per request, and Character-level operations (grapheme
        // breaking) cost more than the whole route lookup.
        let bytes = raw.utf8
        var end = bytes.endIndex
        let literal = bytes.first == UInt8(ascii: "[")
        if literal {
            if let close = bytes.firstIndex(of: UInt8(ascii: "]")) { end = bytes.index(after: close) }
        } else if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
            end = colon
        }
        var value = bytes[bytes.startIndex..<end]
        if value.last == dot { value = value.dropLast() }
        if value.last == dot { return "" }
        var previous: UInt8 = 0
        var upper = false
        for byte in value {
            let allowed = isNameByte(byte) || (literal && (byte == UInt8(ascii: ":") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")))
            if !allowed || (byte == dot && previous == dot) { return "" }
            if byte >= 0x41 && byte <= 0x5A { upper = true }
            previous = byte
        }
        // Fast path: most host names are already lower case ASCII.
        if !upper { return String(Substring(value)) }
        return String(decoding: value.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    private static let dot = UInt8(ascii: ".")

    /// RFC 3986 `reg-name` bytes: unreserved, sub-delims and `%` of percent-encoding. No `:`, which ends the
    /// name and starts the port.
    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"),
            UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
            UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: "%"):
            return true
        default:
            return false
        }
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
