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
            ("app.example.org..", "app.example.org."),
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
