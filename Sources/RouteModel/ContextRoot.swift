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
        guard path.contains(".") else { return path }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.contains(where: { $0 == "." || $0 == ".." }) else { return path }
        var output: [Substring] = []
        for (index, part) in parts.enumerated() {
            let isLast = index == parts.count - 1
            switch part {
            case ".":
                if isLast { output.append("") }
            case "..":
                if output.count > 1 { output.removeLast() }
                if isLast { output.append("") }
            default:
                output.append(part)
            }
        }
        var joined = output.joined(separator: "/")
        if !joined.hasPrefix("/") { joined = "/" + joined }
        return Substring(joined)
    }

    /// The non-empty segments of a path (`/a//b/` → `a`, `b`).
    public static func segments(_ path: Substring) -> [Substring] {
        path.split(separator: "/")
    }
}
