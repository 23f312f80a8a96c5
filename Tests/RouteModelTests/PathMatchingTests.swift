import RouteModel
import Testing

@Suite("Context roots")
struct PathMatchingTests {
    /// Only context roots: paths outside them get 404 (nginx answers locally for such hosts).
    static let rootsOnly: RouteTable = {
        var t = TableFixture()
        t.proxy("h", "/app", to: "app")
        t.proxy("h", "/app/admin", to: "admin")
        t.proxy("h", "/api/v1", to: "v1")
        return t.table()
    }()

    /// The same plus a root route that takes everything else.
    static let withRoot: RouteTable = {
        var t = TableFixture()
        t.proxy("h", "/app", to: "app")
        t.proxy("h", "/app/admin", to: "admin")
        t.proxy("h", "/", to: "root")
        return t.table()
    }()

    @Test(
        "segment-boundary prefixes, longest context root wins",
        arguments: [
            ("/app", "app /app"),
            ("/app/", "app /app/"),
            ("/app/x", "app /app/x"),
            ("/app/x/y.css", "app /app/x/y.css"),
            ("/app?q=1", "app /app?q=1"),
            ("/app/?q=1&r=/x", "app /app/?q=1&r=/x"),
            ("/app/admin", "admin /app/admin"),
            ("/app/admin/users?id=7", "admin /app/admin/users?id=7"),
            ("/app/administrator", "app /app/administrator"),
            ("/api/v1/users", "v1 /api/v1/users"),
            ("/app//x", "app /app//x"),
            ("//app/x", "app //app/x"),
            // not on a segment boundary, outside every root, or another case
            ("/apple", "404"),
            ("/app.html", "404"),
            ("/api", "404"),
            ("/api/v2", "404"),
            ("/", "404"),
            ("", "404"),
            ("/APP", "404"),
            ("/?app", "404"),
        ] as [(String, String)])
    func rootsOnly(target: String, expected: String) {
        #expect(Self.rootsOnly.decide(host: "h", target: target).summary == expected)
    }

    @Test(
        "a root route takes every path no longer context root matches",
        arguments: [
            ("/", "root /"),
            ("", "root "),
            ("/apple", "root /apple"),
            ("/x/app", "root /x/app"),
            ("/app", "app /app"),
            ("/app/admin/", "admin /app/admin/"),
            ("/?q", "root /?q"),
        ] as [(String, String)])
    func withRoot(target: String, expected: String) {
        #expect(Self.withRoot.decide(host: "h", target: target).summary == expected)
    }

    @Test(
        "dot segments are removed before matching, so they cannot get past a context root",
        arguments: [
            ("/app/../admin", "404"),
            ("/app/../app/admin/x", "admin /app/admin/x"),
            ("/app/admin/../x", "app /app/x"),
            ("/app/./x", "app /app/x"),
            ("/app/admin/..", "app /app/"),
            ("/x/../app", "app /app"),
            ("/../../app/x", "app /app/x"),
            ("/app/%2e%2e/secret", "404"),
            ("/app/.%2E/secret", "404"),
            ("/app/%2E/x", "app /app/x"),
            ("/app/..x/y", "app /app/..x/y"),
            ("/app/x/../../api/v1?q=..", "v1 /api/v1?q=.."),
        ] as [(String, String)])
    func dotSegments(target: String, expected: String) {
        #expect(Self.rootsOnly.decide(host: "h", target: target).summary == expected)
    }

    @Test("segments match byte for byte, not by Unicode canonical equivalence (Swift's String ==)")
    func bytesNotCanonicalEquivalence() {
        var t = TableFixture()
        t.proxy("h", "/Kibana", to: "kibana")
        t.proxy("h", "/caf\u{E9}", to: "cafe")
        let table = t.table()
        #expect(table.decide(host: "h", target: "/Kibana/app").summary == "kibana /Kibana/app")
        // U+212A KELVIN SIGN is canonically equivalent to K; "e" + U+0301 to U+00E9.
        #expect(table.decide(host: "h", target: "/\u{212A}ibana/app").summary == "404")
        #expect(table.decide(host: "h", target: "/caf\u{E9}").summary == "cafe /caf\u{E9}")
        #expect(table.decide(host: "h", target: "/cafe\u{301}").summary == "404")
    }

    @Test("context roots of one host do not leak to another")
    func perHost() {
        var t = TableFixture()
        t.proxy("a", "/app", to: "a-app")
        t.proxy("b", "/", to: "b-root")
        let table = t.table()
        #expect(table.decide(host: "a", target: "/app/x").summary == "a-app /app/x")
        #expect(table.decide(host: "a", target: "/other").summary == "404")
        #expect(table.decide(host: "b", target: "/app/x").summary == "b-root /app/x")
    }
}
