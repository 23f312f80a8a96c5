import FuzzSupport
import RouteModel

/// Request-path normalisation (dot segments, percent-encoded dots) and context-root matching: a route table
/// with up to four context roots on one host, asked for an arbitrary request target.
///
/// Input: a byte choosing 0–4 context roots, each root ending in a NUL byte, a byte whose low bit asks for
/// stripping, then the request target.
///
/// Invariants: normalising removes every dot segment (plain or percent-encoded) and is idempotent; an absolute
/// path stays absolute; the route chosen is the longest context root that is a segment-wise prefix of the
/// normalised path (checked against a naive reference); a path forwarded with its context root stripped is
/// what follows the root's segments, and no forwarded path holds a dot segment an upstream could resolve.
enum FuzzRequestPath: FuzzTarget {
    static func run(_ input: inout FuzzInput) {
        var roots: [String] = []
        for _ in 0..<input.choice(5) {
            let root = normalizedRoot(input.string())
            // Roots with the same segments (`/a/b`, `/a//b`) are one place in the trie: keep the first, as a
            // table holds one route per host and path.
            let own = RequestPath.segments(Substring(root))
            if !roots.contains(where: { sameBytes(RequestPath.segments(Substring($0)), own) }) { roots.append(root) }
        }
        let strip = input.choice(2) == 1
        let target = input.remainingString()

        let (rawPath, query) = RequestPath.split(target)
        let path = RequestPath.removingDotSegments(rawPath)
        fuzzCheck(!hasDotSegment(path), "\(path.debugDescription) (from \(rawPath.debugDescription)) keeps a dot segment")
        fuzzCheck(RequestPath.removingDotSegments(path) == path, "normalising \(rawPath.debugDescription) is not idempotent")
        // Bytes, not Characters: `/` followed by a combining mark is one Character that is not "/".
        if rawPath.utf8.first == UInt8(ascii: "/") {
            fuzzCheck(path.utf8.first == UInt8(ascii: "/"), "\(rawPath.debugDescription) → \(path.debugDescription) is no longer absolute")
        }
        fuzzCheck(RequestPath.segmentCount(path) == RequestPath.segments(path).count, "segment counts disagree for \(path.debugDescription)")

        let pool = BackendPool(id: 0, services: ["s"], endpoints: [Endpoint(host: "127.0.0.1", port: 80)])
        let routes = roots.map { Route(host: .exact("h"), contextRoot: $0, stripContextRoot: strip, action: .proxy(pool: 0), services: ["s"]) }
        let table = RouteTable(generation: 1, content: .init(routes: routes, pools: [pool], defaultRoute: nil, settings: ProxySettings()))
        let expected = longestRoot(roots, for: path)
        switch table.decide(host: "h", target: target) {
        case .notFound:
            fuzzCheck(expected == nil, "\(target.debugDescription) not found; \(expected ?? "") matches")
        case .forward(let route, _, let forwarded):
            fuzzCheck(route.contextRoot == expected, "\(target.debugDescription) routed to \(route.contextRoot), expected \(expected ?? "none")")
            let forwardedPath = RequestPath.split(forwarded).path
            fuzzCheck(!hasDotSegment(forwardedPath), "forwarded \(forwarded.debugDescription) holds a dot segment")
            if strip, route.contextRoot != "/" {
                let rest = RequestPath.segments(path).dropFirst(RequestPath.segmentCount(route.contextRoot))
                fuzzCheck(RequestPath.segments(forwardedPath) == Array(rest), "stripped \(path.debugDescription) to \(forwarded.debugDescription)")
            } else {
                fuzzCheck(forwardedPath == path, "forwarded \(forwarded.debugDescription) for \(path.debugDescription)")
            }
            fuzzCheck(RequestPath.split(forwarded).query == query, "query of \(target.debugDescription) changed")
        case .redirect(let location, let status):
            fuzzCheck(strip && status == 301 && expected != nil, "unexpected redirect to \(location) for \(target.debugDescription)")
        case .noRoute:
            fuzzCheck(roots.isEmpty, "no route for the host although it has \(roots)")
        case let other:
            fuzzCheck(false, "\(target.debugDescription): \(other)")
        }
    }

    /// A context root as `LabelParser.normalizedPath` makes it: absolute, dot segments resolved, no trailing `/`.
    static func normalizedRoot(_ text: String) -> String {
        var root = String(RequestPath.removingDotSegments(Substring("/" + text)))
        while root.count > 1, root.hasSuffix("/") { root.removeLast() }
        return root
    }

    static func sameBytes(_ a: [Substring], _ b: [Substring]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.utf8.elementsEqual($1.utf8) }
    }

    /// The reference matcher: the context root with the most segments that prefix the path's segments.
    static func longestRoot(_ roots: [String], for path: Substring) -> String? {
        let segments = RequestPath.segments(path)
        return roots.filter { root in
            let own = RequestPath.segments(Substring(root))
            // Byte for byte, as the trie matches (Swift's `==` would take canonically equivalent segments).
            return own.count <= segments.count && zip(segments.prefix(own.count), own).allSatisfy { $0.utf8.elementsEqual($1.utf8) }
        }.max { RequestPath.segmentCount($0) < RequestPath.segmentCount($1) }
    }

    /// Whether a segment is `.` or `..` once its `%2e`s are decoded, as an upstream would read it.
    static func hasDotSegment(_ path: Substring) -> Bool {
        path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).contains { segment in
            var bytes = Array(segment)
            var decoded: [UInt8] = []
            while !bytes.isEmpty {
                if bytes.count >= 3, bytes[0] == UInt8(ascii: "%"), bytes[1] == UInt8(ascii: "2"), bytes[2] | 0x20 == UInt8(ascii: "e") {
                    decoded.append(UInt8(ascii: "."))
                    bytes.removeFirst(3)
                } else {
                    decoded.append(bytes.removeFirst())
                }
            }
            return decoded == Array(".".utf8) || decoded == Array("..".utf8)
        }
    }
}

#if PIER_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { FuzzRequestPath.fuzzOne(data, size) }
#else
@main extension FuzzRequestPath {}
#endif
