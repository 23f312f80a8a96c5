import RouteModel
import Testing

@Suite("Route table: explain lookups")
struct RouteTableExplainTests {
    static func route(_ host: String, _ root: String, schemes: RouteSchemes = .both) -> Route {
        Route(host: HostPattern(host), contextRoot: root, stripContextRoot: false, action: .proxy(pool: 0), services: [host + root], schemes: schemes)
    }

    static let table = RouteTable(generation: 3, content: .init(
        routes: [
            route("app.org", "/"), route("app.org", "/api"), route("app.org", "/api/v2", schemes: .https),
            route("*.org", "/"), route("*.b.org", "/x"),
        ],
        pools: [BackendPool(id: 0, services: ["s"], endpoints: [])], defaultRoute: nil, settings: ProxySettings()))

    @Test("wildcards need a label in front; exact names match themselves only")
    func matches() {
        #expect(HostPattern("*.org").matches("a.org"))
        #expect(HostPattern("*.org").matches("a.b.org"))
        #expect(!HostPattern("*.org").matches("org"))
        #expect(!HostPattern("*.org").matches(".org"))
        #expect(!HostPattern("*.org").matches("aorg"))
        #expect(HostPattern("a.org").matches("a.org"))
        #expect(!HostPattern("a.org").matches("b.a.org"))
    }

    @Test("the winning pattern: exact first, then the longest wildcard suffix")
    func winner() {
        let patterns = [HostPattern("app.org"), HostPattern("*.org"), HostPattern("*.b.org")]
        #expect(HostPattern.winner(for: "app.org", among: patterns) == HostPattern("app.org"))
        #expect(HostPattern.winner(for: "a.b.org", among: patterns) == HostPattern("*.b.org"))
        #expect(HostPattern.winner(for: "c.org", among: patterns) == HostPattern("*.org"))
        #expect(HostPattern.winner(for: "org", among: patterns) == nil)
    }

    @Test("match: the pattern, its candidates on the entrypoint and the longest context root, as decide takes them")
    func match() {
        let table = Self.table
        func taken(_ name: String, _ path: Substring, _ scheme: Scheme = .http) -> String? {
            table.match(name: name, path: path, scheme: scheme).routeIndex.map { table.routes[$0].services[0] }
        }
        #expect(taken("app.org", "/api/v2/x") == "app.org/api")
        #expect(taken("app.org", "/api/v2/x", .https) == "app.org/api/v2")
        #expect(taken("app.org", "//api/x") == "app.org/api")
        #expect(taken("app.org", "/apix") == "app.org/")
        #expect(taken("a.b.org", "/y") == nil)
        #expect(taken("a.b.org", "/x/y") == "*.b.org/x")
        let http = table.match(name: "app.org", path: "/", scheme: .http)
        #expect(http.pattern == HostPattern("app.org"))
        #expect(http.candidates.map { table.routes[$0].contextRoot } == ["/", "/api"])
        #expect(table.match(name: "app.org", path: "/", scheme: .https).candidates.count == 3)
        let none = table.match(name: "org", path: "/", scheme: .http)
        #expect(none.pattern == nil && none.candidates.isEmpty && none.routeIndex == nil)
    }

    @Test("tlsEntry: the entry and the pattern it is stored under")
    func tlsEntry() {
        let certificate = TLSCertificate(name: "c", certificatePEM: "", privateKeyPEM: "")
        let table = RouteTable(generation: 1, content: .init(routes: [], pools: [], defaultRoute: nil, settings: ProxySettings(),
                                                             tls: TLSTable(entries: [HostPattern("*.org"): .terminate(certificate)])))
        #expect(table.tlsEntry(forServerName: "a.org")?.pattern == HostPattern("*.org"))
        #expect(table.tlsEntry(forServerName: "a.com") == nil)
    }
}
