import RouteModel
import Testing

@Suite("Large tables")
struct LargeTableTests {
    /// 100,000 routes: 40,000 exact hosts with a root route, 20,000 hosts with two context roots each,
    /// 20,000 wildcards. Checks that lookups stay correct at that size (timing is the benchmark's job).
    @Test("100,000 routes: every kind of route still resolves to the right service")
    func hundredThousandRoutes() {
        var routes: [Route] = []
        var pools: [BackendPool] = []
        func add(_ host: HostPattern, _ root: String, _ service: String) {
            pools.append(BackendPool(id: pools.count, services: [service], endpoints: [Endpoint(host: "10.0.0.1", port: 80)]))
            routes.append(Route(host: host, contextRoot: root, stripContextRoot: false, action: .proxy(pool: pools.count - 1),
                                services: [service]))
        }
        for i in 0..<40_000 { add(.exact("h\(i).example.org"), "/", "h\(i)") }
        for i in 0..<20_000 {
            add(.exact("c\(i).example.org"), "/app", "c\(i)-app")
            add(.exact("c\(i).example.org"), "/app/v\(i)", "c\(i)-v")
        }
        for i in 0..<20_000 { add(.wildcard(suffix: "w\(i).example.org"), "/", "w\(i)") }
        #expect(routes.count == 100_000)

        let table = RouteTable(generation: 1, content: .init(routes: routes.reversed(), pools: pools, defaultRoute: nil,
                                                             settings: ProxySettings()))
        #expect(table.routes.count == 100_000)

        for i in stride(from: 0, to: 40_000, by: 997) {
            #expect(table.decide(host: "H\(i).example.org:80", target: "/x").summary == "h\(i) /x")
        }
        for i in stride(from: 0, to: 20_000, by: 991) {
            #expect(table.decide(host: "c\(i).example.org", target: "/app/x").summary == "c\(i)-app /app/x")
            #expect(table.decide(host: "c\(i).example.org", target: "/app/v\(i)/x").summary == "c\(i)-v /app/v\(i)/x")
            #expect(table.decide(host: "c\(i).example.org", target: "/app/v\(i + 1)").summary == "c\(i)-app /app/v\(i + 1)")
            #expect(table.decide(host: "c\(i).example.org", target: "/apple").summary == "404")
            #expect(table.decide(host: "a.b.w\(i).example.org", target: "/").summary == "w\(i) /")
            #expect(table.decide(host: "w\(i).example.org", target: "/").summary == "503")
        }
        #expect(table.decide(host: "h40000.example.org", target: "/").summary == "503")
        #expect(table.decide(host: "example.org", target: "/").summary == "503")
    }
}
