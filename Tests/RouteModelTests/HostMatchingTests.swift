import RouteModel
import Testing

@Suite("Host matching")
struct HostMatchingTests {
    static let table: RouteTable = {
        var t = TableFixture()
        t.proxy("app.example.org", to: "app")
        t.proxy("example.org", to: "apex")
        t.proxy("*.example.org", to: "wild")
        t.proxy("*.b.example.org", to: "wild-b")
        t.proxy("x.b.example.org", to: "x-b")
        t.proxy("[::1]", to: "loopback6")
        return t.table()
    }()

    @Test(
        "exact names, then the longest wildcard suffix",
        arguments: [
            // exact
            ("app.example.org", "app /"),
            ("APP.Example.Org", "app /"),
            ("app.example.org:8080", "app /"),
            ("app.example.org.", "app /"),
            ("example.org", "apex /"),
            ("[::1]:8080", "loopback6 /"),
            // one or more labels in front of the suffix
            ("a.example.org", "wild /"),
            ("a.b.c.example.org", "wild /"),
            ("b.example.org", "wild /"),
            // longest suffix wins: *.b.example.org over *.example.org
            ("a.b.example.org", "wild-b /"),
            ("y.x.b.example.org", "wild-b /"),
            // exact beats any wildcard
            ("x.b.example.org", "x-b /"),
            // not a match: other domains, no dot boundary, suffix tricks
            ("example.com", "503"),
            ("notexample.org", "503"),
            ("example.org.evil.com", "503"),
            ("org", "503"),
            ("", "503"),
            ("[::2]", "503"),
        ] as [(String, String)])
    func host(host: String, expected: String) {
        #expect(Self.table.decide(host: host, target: "/").summary == expected)
    }

    @Test("a missing Host header is an unknown host")
    func missingHost() {
        #expect(Self.table.decide(host: nil, target: "/").summary == "503")
    }

    @Test("a wildcard alone never matches its bare suffix", arguments: ["example.org", "EXAMPLE.ORG.", "example.org:80"])
    func wildcardNotApex(host: String) {
        var t = TableFixture()
        t.proxy("*.example.org", to: "wild")
        let table = t.table()
        #expect(table.decide(host: host, target: "/").summary == "503")
        #expect(table.decide(host: "www." + host, target: "/").summary == "wild /")
    }

    @Test("an exact host with only context roots answers 404 outside them instead of falling back to a wildcard")
    func exactHostShadowsWildcard() {
        var t = TableFixture()
        t.proxy("app.example.org", "/api", to: "api")
        t.proxy("*.example.org", to: "wild")
        t.fallback(to: "default")
        let table = t.table()
        #expect(table.decide(host: "app.example.org", target: "/api/x").summary == "api /api/x")
        #expect(table.decide(host: "app.example.org", target: "/other").summary == "404")
        #expect(table.decide(host: "web.example.org", target: "/other").summary == "wild /other")
    }
}
