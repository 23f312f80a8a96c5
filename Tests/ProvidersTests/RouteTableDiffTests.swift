import LabelConfig
import Providers
import Publishing
import RouteModel
import Testing

@Suite("Route table diff")
struct RouteTableDiffTests {
    static func table(_ labels: [String: String], generation: UInt64) -> RouteTable {
        var full: [String: String] = ["com.docker.lb.hosts": "app.test"]
        for (k, v) in labels { full["com.docker.lb." + k] = v }
        return RouteTableBuilder().build([ServiceDescription(name: "app", labels: full, endpoints: [.init(host: "10.0.0.1", port: 80)])],
                                         generation: generation).table
    }

    @Test("a reload that changes only balancing, health checks, limits or WebSocket paths shows the route as changed",
          arguments: [["sticky_session_cookie": "sid"], ["pier.balance": "least_conn"], ["max_fails": "3"], ["pier.read_timeout": "5s"],
                      ["pier.health_path": "/healthz"], ["websocket_endpoints": "/ws"]])
    func changes(_ labels: [String: String]) {
        let before = Self.table([:], generation: 1)
        let after = Self.table(labels, generation: 2)
        #expect(RouteTableDiff(from: before, to: after).description == "~app.test")
        #expect(RouteTableDiff(from: after, to: Self.table(labels, generation: 3)).description == "none")
    }
}
