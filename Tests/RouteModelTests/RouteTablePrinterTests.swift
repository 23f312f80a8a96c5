@testable import RouteModel
import Testing

@Suite("Route table printer")
struct RouteTablePrinterTests {
    @Test("one aligned line per route, the catch-all line, then the settings")
    func render() {
        var t = TableFixture()
        t.proxy("a.org", "/app", strip: true, to: "a")
        t.proxy("*.b.org", to: "b")
        t.redirect("old.org", to: "http://a.org")
        let expected = """
            route table generation 3: 3 routes
            HOST              PATH  TARGET
            *.b.org           /     b [b:80]
            a.org             /app  a [a:80] (strip /app)
            old.org           /     302 → http://a.org<path>
            (any other host)  /     503
            settings: connect 5.0 seconds, read 600.0 seconds, client body 60.0 seconds, keep-alive 75.0 seconds, max body 33554432 bytes, \
            max header 32768 bytes, info headers shown

            """
        #expect(RouteTablePrinter.render(t.table(generation: 3)) == expected)
    }

    @Test("the default backend replaces the 503 line; an empty pool says so")
    func renderDefault() {
        var t = TableFixture()
        t.fallback(to: "d")
        t.settings.clientMaxBodySize = 0
        t.settings.hideInfoHeaders = true
        var table = t.table(generation: 1)
        table = RouteTable(generation: 1, content: .init(
            routes: [Route(host: .exact("e.org"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 1), services: ["e"])],
            pools: table.pools + [BackendPool(id: 1, services: ["e"], endpoints: [])],
            defaultRoute: table.content.defaultRoute, settings: table.settings))
        let expected = """
            route table generation 1: 1 route
            HOST              PATH  TARGET
            e.org             /     e [no endpoints: 503]
            (any other host)  /     d [d:80]
            settings: connect 5.0 seconds, read 600.0 seconds, client body 60.0 seconds, keep-alive 75.0 seconds, max body unlimited, \
            max header 32768 bytes, info headers hidden

            """
        #expect(RouteTablePrinter.render(table) == expected)
    }
}

@Suite("Route table printer: balancing")
struct RouteTablePrinterBalancingTests {
    @Test("policy, weights and passive health appear where they differ from the defaults")
    func balancing() {
        let a = Endpoint(host: "10.0.0.1", port: 80), b = Endpoint(host: "10.0.0.2", port: 80)
        let pools = [
            BackendPool(id: 0, services: ["w1", "w2"], endpoints: [a, b], weights: [100.0 / 3, 10]),
            BackendPool(id: 1, services: ["s"], endpoints: [a], policy: .cookie("session"),
                        passiveHealth: PassiveHealth(maxFails: 3, failTimeout: .seconds(30))),
            BackendPool(id: 2, services: ["l"], endpoints: [b], policy: .leastConnections),
            BackendPool(id: 3, services: ["v"], endpoints: [a], policy: .clientAddress, passiveHealth: PassiveHealth(maxFails: 0)),
        ]
        let routes = [
            Route(host: .exact("w.org"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 0), services: ["w1", "w2"]),
            Route(host: .exact("s.org"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 1), services: ["s"]),
            Route(host: .exact("l.org"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 2), services: ["l"]),
        ]
        var tls = TLSTable()
        tls.entries[.exact("v.org")] = .passthrough(pool: 3, proxyProtocol: nil)
        let table = RouteTable(generation: 1, content: .init(routes: routes, pools: pools, defaultRoute: nil, settings: ProxySettings(), tls: tls))
        let lines = RouteTablePrinter.render(table).split(separator: "\n").map(String.init)
        #expect(lines.contains("l.org             /     l [10.0.0.2:80] (least_conn)"))
        #expect(lines.contains("s.org             /     s [10.0.0.1:80] (sticky_session_cookie=session) (max_fails=3 fail_timeout=30s)"))
        #expect(lines.contains("w.org             /     w1+w2 [10.0.0.1:80 weight=33.33, 10.0.0.2:80 weight=10]"))
        #expect(lines.contains("  v.org                passthrough to v [10.0.0.1:80] (ip_hash) (max_fails=0 fail_timeout=10s)"), "\(lines)")
    }

    @Test("weights print with at most two decimals", arguments: [
        (10.0, "10"), (22.5, "22.5"), (100.0 / 3, "33.33"), (0.004, "0"), (0, "0"), (2.999, "3"), (1e15, "1000000000000000.0"),
    ] as [(Double, String)])
    func numbers(value: Double, expected: String) {
        #expect(RouteTablePrinter.number(value) == expected)
    }
}
