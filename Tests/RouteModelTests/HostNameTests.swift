import RouteModel
import Testing

@Suite("Host names")
struct HostNameTests {
    @Test(
        "normalize: lower case, port and one trailing dot removed, IPv6 brackets kept",
        arguments: [
            ("app.example.org", "app.example.org"),
            ("App.Example.ORG", "app.example.org"),
            ("app.example.org:8080", "app.example.org"),
            ("APP.example.org:80", "app.example.org"),
            ("app.example.org.", "app.example.org"),
            ("App.Example.Org.:443", "app.example.org"),
            ("10.0.0.1", "10.0.0.1"),
            ("10.0.0.1:8080", "10.0.0.1"),
            ("[::1]", "[::1]"),
            ("[::1]:8080", "[::1]"),
            ("[2001:DB8::1]:443", "[2001:db8::1]"),
            ("localhost:", "localhost"),
            ("", ""),
            (":80", ""),
        ])
    func normalize(raw: String, expected: String) {
        #expect(HostName.normalize(raw) == expected)
    }

    // Found by fuzz-host-name: `a..` normalised to `a.`, which normalises again to `a`; and any byte passed,
    // so `evil.test/x.example.org` matched `*.example.org` and went into an `ssl_only` redirect's Location.
    @Test(
        "normalize: a value that is not a host name gives nothing usable (empty)",
        arguments: [
            "app.example.org..", "a..b.example.org", "evil.test/x.example.org", "evil.test\\x.example.org",
            "user@evil.test", "a b.example.org", "a?.example.org", "a#.example.org", "a:b:c", "[::1/x]",
            "a\u{0}.example.org", "b\u{fc}cher.example.org", "b\u{fc}cher.example.org:443", "EVIL.test/X.example.org:80",
        ])
    func notAHostName(raw: String) {
        #expect(HostName.normalize(raw) == "")
        #expect(HostName.normalize(Substring(raw)) == "")
    }

    @Test("an invalid host never matches a wildcard route, so its bytes never reach a redirect")
    func invalidHostAndWildcard() {
        let table = RouteTable(generation: 1, content: .init(
            routes: [Route(host: .wildcard(suffix: "example.org"), contextRoot: "/", stripContextRoot: false, action: .redirectToHTTPS, services: ["s"])],
            pools: [], defaultRoute: nil, settings: ProxySettings()))
        #expect(table.decide(host: "a.example.org", target: "/p") == .redirectToHTTPS(host: "a.example.org", target: "/p"))
        #expect(table.decide(host: "evil.test/x.example.org", target: "/p") == .noRoute)
    }

    @Test("normalize accepts substrings")
    func normalizeSubstring() {
        let header = "Host: Web.Example.org:8080"
        #expect(HostName.normalize(header.dropFirst(6)) == "web.example.org")
    }

    @Test(
        "patterns: *. prefix makes a wildcard, anything else is exact",
        arguments: [
            ("app.example.org", HostPattern.exact("app.example.org")),
            ("*.example.org", .wildcard(suffix: "example.org")),
            ("*.b.example.org", .wildcard(suffix: "b.example.org")),
            ("example.org", .exact("example.org")),
        ])
    func pattern(text: String, expected: HostPattern) {
        let pattern = HostPattern(text)
        #expect(pattern == expected)
        #expect(pattern.description == text)
    }

    @Test("patterns sort by their written form")
    func patternOrder() {
        let sorted = [HostPattern("b.org"), HostPattern("*.a.org"), HostPattern("a.org")].sorted()
        #expect(sorted.map(\.description) == ["*.a.org", "a.org", "b.org"])
    }

    @Test(
        "endpoints print IPv6 literals in brackets",
        arguments: [
            (Endpoint(host: "10.0.1.3", port: 8080), "10.0.1.3:8080"),
            (Endpoint(host: "::1", port: 80), "[::1]:80"),
            (Endpoint(host: "web", port: 443), "web:443"),
        ])
    func endpointDescription(endpoint: Endpoint, expected: String) {
        #expect(endpoint.description == expected)
    }
}
