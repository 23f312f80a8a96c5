import RouteModel
import Testing

@Suite("Request paths")
struct RequestPathTests {
    @Test(
        "removing dot segments (RFC 3986 §5.2.4), percent-encoded dots included",
        arguments: [
            ("/app/../admin", "/admin"),
            ("/app/..", "/"),
            ("/app/.", "/app/"),
            ("/app/./", "/app/"),
            ("/..", "/"),
            ("/.", "/"),
            ("/../../etc/passwd", "/etc/passwd"),
            // Found by fuzz-request-path (as a broken check of its own: `/` + a combining mark is one Character):
            // the result still starts with the `/` byte.
            ("/../..2et//../../\u{65D}x/e/../..\0./et", "/\u{65D}x/..\0./et"),
            ("/a/./b/../c", "/a/c"),
            ("/a/b/../../../c", "/c"),
            ("/a/b/..", "/a/"),
            ("/a/b/../", "/a/"),
            ("/a//../b", "/a/b"),
            ("/a/%2e%2e/b", "/b"),
            ("/a/%2E%2e/b", "/b"),
            ("/a/.%2e/b", "/b"),
            ("/a/%2e./b", "/b"),
            ("/a/%2e/b", "/a/b"),
            // unchanged: no dot segment
            ("/", "/"),
            ("", ""),
            ("/app/x.css", "/app/x.css"),
            ("/app/..x/y", "/app/..x/y"),
            ("/app/x../y", "/app/x../y"),
            ("/a/.../b", "/a/.../b"),
            ("/a/%2e%2e%2e/b", "/a/%2e%2e%2e/b"),
            ("/a/%2f../b", "/a/%2f../b"),
            ("/a/%41/b", "/a/%41/b"),
            ("/a/%2", "/a/%2"),
            ("/a/%", "/a/%"),
            ("/a//b", "/a//b"),
            // Found by fuzz-request-path: `/` then a combining mark is one Character; segments split on bytes.
            ("/app/../\u{301}x", "/\u{301}x"),
            ("/app/\u{301}/../x", "/app/x"),
        ] as [(String, String)])
    func dotSegments(path: String, expected: String) {
        #expect(RequestPath.removingDotSegments(Substring(path)) == Substring(expected))
    }

    @Test(
        "split into path and query at the first ?",
        arguments: [
            ("/a?b=1", "/a", "b=1" as String?),
            ("/a?b=1?c", "/a", "b=1?c"),
            ("/a?", "/a", ""),
            ("/a", "/a", nil),
            ("?x", "", "x"),
        ] as [(String, String, String?)])
    func split(target: String, path: String, query: String?) {
        let parts = RequestPath.split(target)
        #expect(parts.path == Substring(path))
        #expect(parts.query.map(String.init) == query)
    }

    @Test(
        "segments and their count skip empty segments",
        arguments: [
            ("/", 0), ("", 0), ("/a", 1), ("/a/", 1), ("//a//b/", 2), ("a/b", 2), ("/a/b/c", 3),
            // Found by fuzz-request-path: the two disagreed when a combining mark followed a `/`.
            ("/a/\u{301}b/\u{1}/c", 4),
        ] as [(String, Int)])
    func segmentCount(path: String, count: Int) {
        #expect(RequestPath.segmentCount(path) == count)
        #expect(RequestPath.segments(Substring(path)).count == count)
    }

    @Test(
        "dropping the segments of a context root",
        arguments: [
            ("/app/x", 1, "/x"),
            ("/app", 1, ""),
            ("/app/", 1, "/"),
            ("//app/x", 1, "/x"),
            ("/app//x", 1, "//x"),
            ("/a/b/c", 2, "/c"),
            ("/a/b/c", 0, "/a/b/c"),
        ] as [(String, Int, String)])
    func dropping(path: String, count: Int, expected: String) {
        #expect(RequestPath.dropping(segments: count, from: Substring(path)) == Substring(expected))
    }
}
