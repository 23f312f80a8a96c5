import RouteModel
import Testing

@Suite("Route table")
struct RouteTableTests {
    @Test(
        "unknown hosts: default backend if there is one, else 503; known host, no matching root: 404",
        arguments: [
            (false, "unknown.org", "/x", "503"),
            (false, nil, "/x", "503"),
            (false, "app.org", "/x", "404"),
            (false, "app.org", "/app/x", "app /app/x"),
            (true, "unknown.org", "/x?y", "default /x?y"),
            (true, nil, "/", "default /"),
            (true, "", "/", "default /"),
            (true, "app.org", "/x", "404"),
            (true, "app.org", "/app/x", "app /app/x"),
            (true, "unknown.org", "/a/../b", "default /b"),
        ] as [(Bool, String?, String, String)])
    func fallback(hasDefault: Bool, host: String?, target: String, expected: String) {
        var t = TableFixture()
        t.proxy("app.org", "/app", strip: false, to: "app")
        if hasDefault { t.fallback(to: "default") }
        #expect(t.table().decide(host: host, target: target).summary == expected)
    }

    @Test("the empty table answers 503 to everything", arguments: ["/", "/x", ""])
    func empty(target: String) {
        let table = RouteTable.empty()
        #expect(table.generation == 0)
        #expect(table.routes.isEmpty)
        #expect(table.decide(host: "any.org", target: target) == .noRoute)
        #expect(table.decide(host: nil, target: target) == .noRoute)
    }

    @Test("routes are kept sorted by host then context root, whatever the insertion order")
    func sortedRoutes() {
        var a = TableFixture()
        a.proxy("b.org", "/x", to: "bx")
        a.proxy("a.org", to: "a")
        a.proxy("b.org", to: "b")
        var b = TableFixture()
        b.proxy("b.org", to: "b")
        b.proxy("a.org", to: "a")
        b.proxy("b.org", "/x", to: "bx")
        #expect(a.table().routes.map { "\($0.host) \($0.contextRoot)" } == ["a.org /", "b.org /", "b.org /x"])
        #expect(a.table().routes.map(\.services) == b.table().routes.map(\.services))
        // The index follows the sorted order: every route is still reachable.
        #expect(a.table().decide(host: "b.org", target: "/x/1").summary == "bx /x/1")
        #expect(a.table().decide(host: "b.org", target: "/y").summary == "b /y")
    }

    @Test("== compares generation and content; content alone tells whether anything changed")
    func equality() {
        var t = TableFixture()
        t.proxy("a.org", to: "a")
        let one = t.table(generation: 1)
        let two = t.table(generation: 2)
        #expect(one != two)
        #expect(one.content == two.content)
        #expect(one.with(generation: 2) == two)
        #expect(one == t.table(generation: 1))

        var changed = t
        changed.proxy("b.org", to: "b")
        #expect(changed.table(generation: 1) != one)
        #expect(changed.table(generation: 1).content != one.content)

        var otherSettings = t
        otherSettings.settings.readTimeout = .seconds(5)
        #expect(otherSettings.table(generation: 1).content != one.content)
    }

    @Test("with(generation:) keeps the content and the lookups")
    func withGeneration() {
        var t = TableFixture()
        t.proxy("a.org", "/app", strip: true, to: "a")
        let next = t.table(generation: 7).with(generation: 8)
        #expect(next.generation == 8)
        #expect(next.decide(host: "a.org", target: "/app/x").summary == "a /x")
    }

    @Test("a pool with no endpoints is still a route; the data plane answers 503")
    func emptyPool() {
        let route = Route(host: .exact("a.org"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 0), services: ["a"])
        let table = RouteTable(generation: 1, content: .init(
            routes: [route], pools: [BackendPool(id: 0, services: ["a"], endpoints: [])], defaultRoute: nil,
            settings: ProxySettings()))
        guard case .forward(_, let pool, let target) = table.decide(host: "a.org", target: "/") else {
            Issue.record("expected a forward")
            return
        }
        #expect(pool.endpoints.isEmpty)
        #expect(target == "/")
    }

    @Test("issues print as one line naming service, key, value and reason")
    func issueDescription() {
        let issue = RouteIssue(.error, service: "web", key: "com.docker.lb.port", value: "80x", reason: "not a port number")
        #expect(issue.description == #"error: service "web": com.docker.lb.port="80x": not a port number"#)
        #expect(RouteIssue(.warning, service: nil, reason: "r").description == "warning: r")
        #expect(RouteIssue(.warning, service: "s", key: "k", reason: "r").description == #"warning: service "s": k: r"#)
        #expect(RouteIssue.Severity.error < .warning)
        #expect(!(RouteIssue.Severity.warning < .error))
    }
}
