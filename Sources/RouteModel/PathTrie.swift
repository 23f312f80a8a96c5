/// A prefix trie over path segments: finds the longest context root that is a segment-boundary prefix of a
/// path, in time proportional to the path's depth, whatever the number of routes.
///
/// `/app` matches `/app` and `/app/x`, never `/apple` (nginx's plain prefix `location /app` would). Segments
/// match byte for byte: Swift compares strings by Unicode canonical equivalence, so the dictionary's match is
/// checked again on the bytes (`/\u{212A}ibana`, with a KELVIN SIGN, is not `/Kibana`).
struct PathTrie: Sendable {
    private final class Node: @unchecked Sendable {
        // Mutated only while the trie is being built, inside `PathTrie.insert`, before the trie is shared;
        // immutable afterwards, hence safe to share across event loops.
        var children: [Substring: Node] = [:]
        var route: Int?
        /// The segment this node was inserted under, as written.
        let segment: Substring

        init(segment: Substring) {
            self.segment = segment
        }
    }

    private let root = Node(segment: "")

    /// Adds a context root for `routeIndex`. Only called while building a table.
    func insert(contextRoot: String, routeIndex: Int) {
        var node = root
        for segment in RequestPath.segments(Substring(contextRoot)) {
            if let next = node.children[segment] {
                node = next
            } else {
                let next = Node(segment: segment)
                node.children[segment] = next
                node = next
            }
        }
        node.route = routeIndex
    }

    /// The route index of the longest matching context root, if any.
    func longestMatch(_ path: Substring) -> Int? {
        var node = root
        var best = root.route
        var rest = path.utf8[...]
        while true {
            // Skip slashes, then take one segment; no array allocated on the hot path.
            while let first = rest.first, first == UInt8(ascii: "/") { rest = rest.dropFirst() }
            // A node without children (every host routed as a whole) ends the walk before any hashing.
            if rest.isEmpty || node.children.isEmpty { break }
            let end = rest.firstIndex(of: UInt8(ascii: "/")) ?? rest.endIndex
            let segment = Substring(rest[rest.startIndex..<end])
            guard let next = node.children[segment], next.segment.utf8.elementsEqual(segment.utf8) else { break }
            node = next
            if let route = node.route { best = route }
            rest = rest[end...]
        }
        return best
    }
}
