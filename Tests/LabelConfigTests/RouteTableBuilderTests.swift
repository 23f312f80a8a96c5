import LabelConfig
import RouteModel
import Testing

@Suite("Route table builder")
struct RouteTableBuilderTests {
    typealias S = Fixture

    static func build(_ services: [ServiceDescription], cluster: String = "") -> RouteTableBuilder.Result {
        RouteTableBuilder(serviceCluster: cluster).build(services, generation: 1)
    }

    @Test("canary: two services on one host without context root share one pool of all their endpoints")
    func canary() throws {
        let result = Self.build([
            S.service("demo-v2", S.lb(["hosts": "demo.local", "port": "8080"]), ["10.0.2.1"]),
            S.service("demo-v1", S.lb(["hosts": "demo.local", "port": "8080"]), ["10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4"]),
        ])
        #expect(result.issues.isEmpty)
        #expect(result.table.routes.count == 1)
        let route = try #require(result.table.routes.first)
        #expect(route.services == ["demo-v1", "demo-v2"])
        guard case .forward(_, let pool, let target) = result.table.decide(host: "demo.local", target: "/ping") else {
            Issue.record("expected a forward")
            return
        }
        #expect(target == "/ping")
        #expect(pool.services == ["demo-v1", "demo-v2"])
        // Task-mode weights are task counts: 4 of v1, 1 of v2 → 20 % to v2 with round robin.
        #expect(pool.endpoints.map(\.description) == ["10.0.1.1:8080", "10.0.1.2:8080", "10.0.1.3:8080", "10.0.1.4:8080", "10.0.2.1:8080"])
        #expect(result.statuses.map(\.description) == ["demo-v1: routed, 4 endpoints", "demo-v2: routed, 1 endpoint"])
    }

    @Test("conflict: same host and context root; the first service by name keeps routing, the later one gets the error")
    func conflict() throws {
        let result = Self.build([
            S.service("zeta", S.lb(["hosts": "app.local", "port": "80", "context_root": "/app"]), ["10.0.0.2"]),
            S.service("alpha", S.lb(["hosts": "app.local", "port": "80", "context_root": "/app/"]), ["10.0.0.1"]),
        ])
        #expect(result.table.decide(host: "app.local", target: "/app/x").summary == "forward alpha /app/x")
        #expect(result.issues.map(\.description) == [
            #"error: service "zeta": com.docker.lb.context_root="/app": conflict: host app.local with context root /app is already routed to service "alpha"; this claim is ignored"#,
        ])
        let issue = try #require(result.issues.first)
        #expect(issue.service == "zeta")
    }

    @Test("a service whose every claim lost a conflict is not routed; one that kept some claims is")
    func lostEverything() {
        let result = Self.build([
            S.service("alpha", S.lb(["hosts": "app.local", "port": "80", "context_root": "/app"])),
            S.service("beta", S.lb(["hosts": "app.local", "port": "80", "context_root": "/app"])),
            S.service("gamma", S.lb(["hosts": "app.local,gamma.local", "port": "80", "context_root": "/app"])),
        ])
        #expect(result.statuses.map(\.description) == [
            "alpha: routed, 1 endpoint", "beta: not routed: see its errors", "gamma: routed, 1 endpoint",
        ])
        #expect(result.issues.map(\.service) == ["beta", "gamma"])
    }

    @Test("an explicit context_root=/ is the same as none: it joins the canary, and a rewrite of / strips nothing")
    func explicitRoot() throws {
        let result = Self.build([
            S.service("v1", S.lb(["hosts": "demo.local", "port": "80"]), ["10.0.0.1"]),
            S.service("v2", S.lb(["hosts": "demo.local", "port": "80", "context_root": "/", "context_root_rewrite": "true"]), ["10.0.0.2"]),
        ])
        #expect(result.issues.map(\.description) == [
            #"warning: service "v2": com.docker.lb.context_root_rewrite="true": has no effect without com.docker.lb.context_root"#,
        ])
        let route = try #require(result.table.routes.first)
        #expect(result.table.routes.count == 1)
        #expect(route.services == ["v1", "v2"])
        #expect(!route.stripContextRoot)
        let alone = Self.build([S.service("v2", S.lb(["hosts": "demo.local", "port": "80", "context_root_rewrite": "true"]), ["10.0.0.2"])])
        let without = Self.build([S.service("v2", S.lb(["hosts": "demo.local", "port": "80"]), ["10.0.0.2"])])
        #expect(alone.table == without.table)
    }

    @Test("a service on a host with a context root and one on the same host without: both route")
    func rootAndContextRoot() {
        let result = Self.build([
            S.service("site", S.lb(["hosts": "app.local", "port": "80"]), ["10.0.0.1"]),
            S.service("api", S.lb(["hosts": "app.local", "port": "80", "context_root": "/api", "context_root_rewrite": "true"]), ["10.0.0.2"]),
        ])
        #expect(result.issues.isEmpty)
        #expect(result.table.decide(host: "app.local", target: "/api/v1").summary == "forward api /v1")
        #expect(result.table.decide(host: "app.local", target: "/apiary").summary == "forward site /apiary")
    }

    @Test("a redirect source claimed by another service's hosts is a conflict too")
    func redirectConflict() {
        let result = Self.build([
            S.service("a-redirector", S.lb(["hosts": "new.local", "port": "80", "redirects": "http://old.local,http://new.local"])),
            S.service("b-old", S.lb(["hosts": "old.local", "port": "80"])),
        ])
        #expect(result.table.decide(host: "old.local", target: "/x").summary == "302 http://new.local/x")
        #expect(result.issues.map(\.description) == [
            #"error: service "b-old": com.docker.lb.hosts="old.local": conflict: host old.local is already routed to service "a-redirector"; this claim is ignored"#,
        ])
    }

    @Test("redirects: the source host redirects on plain HTTP, still proxies on HTTPS; the other hosts proxy on both")
    func redirects() {
        let result = Self.build([
            S.service("web", S.lb(["hosts": "old.local,new.local", "port": "8080", "redirects": "http://old.local,http://new.local"]),
                      ["10.0.0.1"]),
        ])
        #expect(result.issues.isEmpty)
        #expect(result.table.routes.map { "\($0.host) \($0.action) \($0.schemes.rawValue)" } == [
            "new.local proxy(pool: 0) 3", "old.local redirect(target: \"http://new.local\", status: 302) 1", "old.local proxy(pool: 0) 2",
        ])
        #expect(result.table.decide(host: "old.local", target: "/p", scheme: .https).summary == "forward web /p")
        #expect(result.table.decide(host: "old.local", target: "/").summary == "302 http://new.local/")
        #expect(result.table.decide(host: "old.local", target: "/p?q=1").summary == "302 http://new.local/p?q=1")
        #expect(result.table.decide(host: "new.local", target: "/p?q=1").summary == "forward web /p?q=1")
    }

    @Test("default backend: unknown hosts go to it; a second one is a conflict on the later service by name")
    func defaultBackend() {
        let result = Self.build([
            S.service("fallback-b", S.lb(["default_backend": "true", "port": "80"]), ["10.0.0.2"]),
            S.service("fallback-a", S.lb(["default_backend": "true", "port": "80"]), ["10.0.0.1"]),
            S.service("app", S.lb(["hosts": "app.local", "port": "80"]), ["10.0.0.3"]),
        ])
        #expect(result.table.decide(host: "unknown.local", target: "/x").summary == "forward fallback-a /x")
        #expect(result.table.decide(host: nil, target: "/").summary == "forward fallback-a /")
        #expect(result.table.decide(host: "app.local", target: "/").summary == "forward app /")
        #expect(result.issues.map(\.description) == [
            #"error: service "fallback-b": com.docker.lb.default_backend="true": conflict: service "fallback-a" is already the default backend"#,
        ])
    }

    @Test("without a default backend unknown hosts get 503")
    func noDefault() {
        let result = Self.build([S.service("app", S.lb(["hosts": "app.local", "port": "80"]))])
        #expect(result.table.decide(host: "other.local", target: "/").summary == "503")
        #expect(result.table.content.defaultRoute == nil)
    }

    @Test(
        "service clusters: only the builder's cluster is routed",
        arguments: [
            ("", ["default-app"]),
            ("us-east", ["east-app"]),
            ("us-west", ["west-app"]),
            ("eu", [String]()),
        ] as [(String, [String])])
    func serviceClusters(cluster: String, routed: [String]) {
        let result = Self.build([
            S.service("east-app", S.lb(["hosts": "east.local", "port": "80", "service_cluster": "us-east"])),
            S.service("west-app", S.lb(["hosts": "west.local", "port": "80", "service_cluster": "us-west"])),
            S.service("default-app", S.lb(["hosts": "default.local", "port": "80"])),
        ], cluster: cluster)
        #expect(result.issues.isEmpty)
        #expect(result.table.routes.flatMap(\.services) == routed)
        for status in result.statuses {
            if routed.contains(status.service) {
                #expect(status.state == .routed(endpoints: 1))
            } else {
                #expect(status.state != .routed(endpoints: 1))
                guard case .otherCluster = status.state else {
                    Issue.record("\(status)")
                    continue
                }
            }
        }
        #expect(result.table.decide(host: "west.local", target: "/").summary == (cluster == "us-west" ? "forward west-app /" : "503"))
    }

    @Test("another cluster's services are not compiled here: their label errors are another Pier's to report")
    func otherClusterErrors() {
        let result = Self.build([
            S.service("west-broken", S.lb(["hosts": "west.local", "port": "80x", "service_cluster": " us-west "])),
            S.service("east-app", S.lb(["hosts": "east.local", "port": "80", "service_cluster": "us-east"])),
        ], cluster: "us-east")
        #expect(result.issues.isEmpty)
        #expect(result.statuses.map(\.description) == [
            "east-app: routed, 1 endpoint", #"west-broken: not routed: service cluster "us-west" is served by another Pier"#,
        ])
    }

    @Test("a passthrough service gets no plain-HTTP route of its own, only its redirects; its hosts pass through on HTTPS")
    func passthrough() {
        let result = Self.build([
            S.service("pt", S.lb(["hosts": "pt.local,old-pt.local", "port": "443", "ssl_passthrough": "true",
                                  "redirects": "http://old-pt.local,https://pt.local"]), ["10.0.0.9"]),
            S.service("web", S.lb(["hosts": "web.local", "port": "80"])),
        ])
        #expect(result.table.routes.map(\.host.description) == ["old-pt.local", "web.local"])
        #expect(result.table.decide(host: "pt.local", target: "/").summary == "503")
        #expect(result.table.decide(host: "old-pt.local", target: "/x").summary == "302 https://pt.local/x")
        #expect(result.issues.isEmpty)
        guard case .passthrough(let pool, nil) = result.table.decideTLS(serverName: "PT.local") else {
            Issue.record("pt.local does not pass through")
            return
        }
        #expect(pool.endpoints.map(\.description) == ["10.0.0.9:443"])
        #expect(result.statuses.map(\.description).contains("pt: routed, 1 endpoint"))
    }

    @Test("services without com.docker.lb. labels are ignored, silently")
    func ignored() {
        let result = Self.build([
            S.service("db", ["com.docker.stack.namespace": "demo"]),
            S.service("cache", [:]),
        ])
        #expect(result.issues.isEmpty)
        #expect(result.table.routes.isEmpty)
        #expect(result.statuses.map(\.state) == [.ignored, .ignored])
    }

    @Test("endpoints without a port and no com.docker.lb.port: error, service not routed")
    func missingPort() throws {
        let result = Self.build([S.service("web", S.lb(["hosts": "web.local"]), ["10.0.0.1", "10.0.0.2"])])
        #expect(result.table.routes.isEmpty)
        #expect(result.statuses.map(\.state) == [.rejected])
        let issue = try #require(result.issues.first)
        #expect(result.issues.count == 1)
        #expect(issue.severity == .error)
        #expect(issue.service == "web")
        #expect(issue.key == "com.docker.lb.port")
        #expect(issue.reason.contains("set com.docker.lb.port"))
    }

    @Test("a port known for an endpoint wins over the label; the label fills in the others")
    func endpointPorts() throws {
        let result = Self.build([S.service("web", S.lb(["hosts": "web.local", "port": "8080"]), ["10.0.0.1:9000", "10.0.0.2", "[fd00::1]"])])
        #expect(result.issues.isEmpty)
        #expect(result.table.pools.first?.endpoints.map(\.description) == ["10.0.0.1:9000", "10.0.0.2:8080", "[fd00::1]:8080"])
        let fileStyle = Self.build([S.service("web", S.lb(["hosts": "web.local"]), ["10.0.0.1:9000"])])
        #expect(fileStyle.issues.isEmpty)
        #expect(fileStyle.table.pools.first?.endpoints == [Endpoint(host: "10.0.0.1", port: 9000)])
    }

    @Test("no running endpoints: a warning, and the route stays with an empty pool (requests get 503)")
    func noEndpoints() throws {
        let result = Self.build([S.service("web", S.lb(["hosts": "web.local", "port": "80"]), [])])
        #expect(result.issues.map(\.description) == [#"warning: service "web": no running endpoints; its requests get 503 until one runs"#])
        #expect(result.statuses.map(\.description) == ["web: routed, 0 endpoints"])
        guard case .forward(_, let pool, _) = result.table.decide(host: "web.local", target: "/") else {
            Issue.record("expected a forward to the empty pool")
            return
        }
        #expect(pool.endpoints.isEmpty)
        #expect(!result.hasErrors)
    }

    @Test("two services with one name: the first is considered, the second reported")
    func duplicateNames() {
        let result = Self.build([
            S.service("web", S.lb(["hosts": "web.local", "port": "80"]), ["10.0.0.1"]),
            S.service("web", S.lb(["hosts": "web.local", "port": "80"]), ["10.0.0.2"]),
        ])
        #expect(result.table.routes.count == 1)
        #expect(result.statuses.count == 1)
        #expect(result.issues.map(\.description) == [#"error: service "web": another service has the same name; only the first is considered"#])
    }

    static let mixed: [ServiceDescription] = [
        S.service("v1", S.lb(["hosts": "demo.local", "port": "8080"]), ["10.0.1.1", "10.0.1.2"]),
        S.service("v2", S.lb(["hosts": "demo.local", "port": "8080"]), ["10.0.2.1"]),
        S.service("app", S.lb(["hosts": "app.local,*.apps.local", "port": "80", "context_root": "/app", "context_root_rewrite": "true"]),
                  ["10.0.3.1"]),
        S.service("app2", S.lb(["hosts": "app.local", "port": "80", "context_root": "/app"]), ["10.0.3.2"]),
        S.service("redir", S.lb(["hosts": "old.local,new.local", "port": "80", "redirects": "http://old.local,http://new.local"])),
        S.service("fallback", S.lb(["default_backend": "true", "port": "80"]), ["10.0.9.9"]),
        S.service("bad", S.lb(["hosts": "bad.local", "port": "80x"])),
        S.service("noport", S.lb(["hosts": "noport.local"])),
        S.service("empty", S.lb(["hosts": "empty.local", "port": "80"]), []),
        S.service("plain", ["foo": "bar"]),
        S.service("west", S.lb(["hosts": "west.local", "port": "80", "service_cluster": "us-west"])),
    ]

    @Test("deterministic: any input order gives the same table, issues and statuses", arguments: 0..<8)
    func deterministic(seed: Int) {
        let reference = Self.build(Self.mixed)
        var generator = SplitMix(seed: UInt64(seed))
        let shuffled = Self.mixed.shuffled(using: &generator)
        let result = Self.build(shuffled)
        #expect(result.table == reference.table)
        #expect(result.issues == reference.issues)
        #expect(result.statuses == reference.statuses)
        #expect(RouteTablePrinter.render(result.table) == RouteTablePrinter.render(reference.table))
    }

    @Test("issues come errors first, then by service and key")
    func issueOrder() {
        let issues = Self.build(Self.mixed).issues
        #expect(issues.map { "\($0.severity) \($0.service ?? "-") \($0.key ?? "-")" } == [
            "error app2 com.docker.lb.context_root",
            "error bad com.docker.lb.port",
            "error noport com.docker.lb.port",
            "warning empty -",
        ])
    }

    @Test(
        "one bad service never removes other services' routes",
        arguments: [
            S.service("zz-bad-port", S.lb(["hosts": "x.local", "port": "80x"])),
            S.service("zz-typo", S.lb(["host": "x.local", "port": "80"])),
            S.service("zz-no-port", S.lb(["hosts": "x.local"])),
            S.service("zz-app-conflict", S.lb(["hosts": "app.local", "port": "80", "context_root": "/app"])),
            S.service("00-demo-conflict", S.lb(["hosts": "app.local", "port": "80", "context_root": "/app", "backend_mode": "foo"])),
            S.service("zz-default", S.lb(["default_backend": "true", "port": "80"])),
            S.service("zz-bad-hosts", S.lb(["hosts": "good.local,*bad", "port": "80"])),
            S.service("zz-redirect-conflict", S.lb(["hosts": "y.local", "port": "80", "redirects": "http://demo.local,http://y.local"])),
        ])
    func isolation(bad: ServiceDescription) {
        let good = Self.build(Self.mixed)
        let withBad = Self.build(Self.mixed + [bad])
        #expect(withBad.hasErrors)
        #expect(withBad.issues.filter { $0.service == bad.name }.contains { $0.severity == .error })
        for route in good.table.routes {
            let host = route.host.description.replacingOccurrences(of: "*", with: "any")
            let target = route.contextRoot + "/x"
            // Pool ids may shift; the services and the upstream target may not.
            #expect(withBad.table.decide(host: host, target: target).summary == good.table.decide(host: host, target: target).summary)
        }
        #expect(withBad.table.decide(host: "nowhere.local", target: "/").summary == "forward fallback /")
    }

    @Test("the builder copies its settings and generation into the table")
    func settingsAndGeneration() {
        var settings = ProxySettings()
        settings.hideInfoHeaders = true
        let result = RouteTableBuilder(settings: settings).build([], generation: 42)
        #expect(result.table.generation == 42)
        #expect(result.table.settings == settings)
        #expect(result.table.routes.isEmpty)
        #expect(result.issues.isEmpty)
    }
}

/// A seeded generator, so that the shuffles are the same on every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension RouteTableBuilderTests {
    @Test("websocket_endpoints: paths are normalised onto the service's routes; services sharing a host share them")
    func webSocketPaths() throws {
        let result = Self.build([
            S.service("chat-v1", S.lb(["hosts": "chat.local", "port": "80", "websocket_endpoints": "/ws/, /a/../live"]), ["10.0.1.1"]),
            S.service("chat-v2", S.lb(["hosts": "chat.local", "port": "80", "websocket_endpoints": "/ws"]), ["10.0.2.1"]),
            S.service("api", S.lb(["hosts": "api.local", "port": "80"]), ["10.0.3.1"]),
        ])
        #expect(result.issues.isEmpty, "\(result.issues)")
        let chat = try #require(result.table.routes.first { $0.host == .exact("chat.local") })
        #expect(chat.webSocketPaths == ["/live", "/ws"])
        let api = try #require(result.table.routes.first { $0.host == .exact("api.local") })
        #expect(api.webSocketPaths.isEmpty)
        let (_, issues) = Labels.parse(service: "x", labels: S.lb(["hosts": "a.local", "websocket_endpoints": " , "]))
        #expect(issues.map(\.reason) == ["no path; give a comma-separated list such as /ws,/chat"])
    }
}
