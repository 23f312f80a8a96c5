/// Path helpers for context roots: splitting, dot-segment removal and segment-boundary prefixes.
public enum RequestPath {
    /// Splits a request target (origin form) into path and query (without the `?`).
    public static func split(_ target: String) -> (path: Substring, query: Substring?) {
        if let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            return (target[..<q], target[target.index(after: q)...])
        }
        return (target[...], nil)
    }

    /// Removes `.` and `..` segments (RFC 3986 §5.2.4) so that `/app/../admin` cannot reach past a context
    /// root. Paths without dot segments are returned unchanged without allocating a new string.
    public static func removingDotSegments(_ path: Substring) -> Substring {
        guard path.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "%") }) else { return path }
        // Bytes, split at the `/` byte as upstreams split: at the Character level `/` and a combining mark after
        // it are one Character, so `/app/../\u{301}x` kept its `..` segment (found by fuzz-request-path). No
        // Substring per part either: its bounds would be rounded to Character boundaries.
        let slash = UInt8(ascii: "/")
        let parts = path.utf8.split(separator: slash, omittingEmptySubsequences: false)
        guard parts.contains(where: { dotSegment($0) != 0 }) else { return path }
        var output: [Substring.UTF8View] = []
        for (index, part) in parts.enumerated() {
            let isLast = index == parts.count - 1
            switch dotSegment(part) {
            case 1:
                if isLast { output.append(""[...].utf8) }
            case 2:
                if output.count > 1 { output.removeLast() }
                if isLast { output.append(""[...].utf8) }
            default:
                output.append(part)
            }
        }
        var joined: [UInt8] = []
        for (index, part) in output.enumerated() {
            if index > 0 { joined.append(slash) }
            joined += part
        }
        if joined.first != slash { joined.insert(slash, at: 0) }
        return Substring(String(decoding: joined, as: UTF8.self))
    }

    /// 1 for a `.` segment, 2 for `..`, 0 otherwise. Percent-encoded dots (`%2e`, `.%2E`, …) count: upstreams
    /// decode them, so `/app/%2e%2e/admin` must not get past the context root either.
    static func dotSegment(_ segment: Substring.UTF8View) -> Int {
        var dots = 0
        var rest = segment[...]
        while let first = rest.first {
            if first == UInt8(ascii: ".") {
                rest = rest.dropFirst()
            } else if first == UInt8(ascii: "%"), rest.dropFirst().first == UInt8(ascii: "2"),
                let e = rest.dropFirst(2).first, e | 0x20 == UInt8(ascii: "e")
            {
                rest = rest.dropFirst(3)
            } else {
                return 0
            }
            dots += 1
            if dots > 2 { return 0 }
        }
        return dots
    }

    /// What follows the first `count` non-empty segments of `path`, slash runs before them skipped as
    /// `PathTrie` skips them: after 1 segment, `/app/x` → `/x`, `//app/x` → `/x`, `/app` → empty.
    public static func dropping(segments count: Int, from path: Substring) -> Substring {
        let slash = UInt8(ascii: "/")
        var rest = path.utf8[...]
        for _ in 0..<count {
            while rest.first == slash { rest = rest.dropFirst() }
            rest = rest[(rest.firstIndex(of: slash) ?? rest.endIndex)...]
        }
        return Substring(rest)
    }

    /// The number of non-empty segments of a path (`/a//b/` → 2), without allocating.
    public static func segmentCount(_ path: some StringProtocol) -> Int {
        let slash = UInt8(ascii: "/")
        var count = 0
        var previous = slash
        for byte in path.utf8 {
            if byte != slash, previous == slash { count += 1 }
            previous = byte
        }
        return count
    }

    /// The non-empty segments of a path (`/a//b/` → `a`, `b`), split on the `/` byte like `segmentCount`.
    public static func segments(_ path: Substring) -> [Substring] {
        // A copy per segment: a Substring of the path would round its bounds to Character boundaries.
        path.utf8.split(separator: UInt8(ascii: "/")).map { String(decoding: $0, as: UTF8.self)[...] }
    }
}
