import LabelConfig
import RouteModel
import Testing

@Suite("Per-service limits and active health labels")
struct ServiceLimitsLabelTests {
    typealias S = Fixture

    @Test("timeouts and the body limit override the global settings for the service's pool only")
    func settingsPerPool() throws {
        let global = ProxySettings(readTimeout: .seconds(600), clientMaxBodySize: 1 << 20)
        let result = RouteTableBuilder(settings: global).build([
            S.service("quick", S.lb(["hosts": "quick.local", "port": "80", "pier.read_timeout": "2s", "pier.max_body_size": "0"]), ["10.0.0.1"]),
            S.service("plain", S.lb(["hosts": "plain.local", "port": "80"]), ["10.0.0.2"]),
        ])
        #expect(result.issues.isEmpty, "\(result.issues)")
        let quick = try #require(result.table.pools.first { $0.services == ["quick"] })
        let plain = try #require(result.table.pools.first { $0.services == ["plain"] })
        #expect(result.table.settings(forPool: quick.id).readTimeout == .seconds(2))
        #expect(result.table.settings(forPool: quick.id).clientMaxBodySize == 0)
        #expect(result.table.settings(forPool: quick.id).connectTimeout == global.connectTimeout)
        #expect(result.table.settings(forPool: plain.id) == global)
    }

    @Test("response_header_timeout and max_conns: parsed into the pool's limits; bad values reported")
    func responseHeaderTimeoutAndMaxConns() throws {
        let (labels, none) = Labels.parse(service: "web", labels: S.lb([
            "hosts": "a.org", "pier.response_header_timeout": "5s", "pier.max_conns": "16",
        ]))
        #expect(none.isEmpty, "\(none)")
        let limits = try #require(labels).limits
        #expect(limits.responseHeaderTimeout == .seconds(5))
        #expect(limits.maxConnections == 16)
        #expect(limits.applied(to: ProxySettings()).responseHeaderTimeout == .seconds(5))
        #expect(limits.description == "response_header=5s max_conns=16")
        let (unlimited, _) = Labels.parse(service: "web", labels: S.lb(["hosts": "a.org", "pier.max_conns": "0"]))
        #expect(try #require(unlimited).limits.maxConnections == nil)
        let (_, h2c) = Labels.parse(service: "grpc", labels: S.lb(["hosts": "a.org", "pier.upstream_protocol": "h2c", "pier.max_conns": "4"]))
        #expect(h2c.map(\.key) == ["com.docker.lb.pier.max_conns"])
        for bad in ["-1", "many", "1.5"] {
            let (_, issues) = Labels.parse(service: "web", labels: S.lb(["hosts": "a.org", "pier.max_conns": bad]))
            #expect(issues.map(\.key) == ["com.docker.lb.pier.max_conns"], "\(bad)")
        }
    }

    @Test("health_interval, _timeout and _status need health_path; a probe collects them")
    func healthCompanions() throws {
        let (alone, issues) = Labels.parse(service: "web", labels: S.lb(["hosts": "a.org", "pier.health_interval": "5s"]))
        #expect(try #require(alone).activeHealth == nil)
        #expect(issues.map(\.reason) == ["has no effect without com.docker.lb.pier.health_path"])
        let (probe, none) = Labels.parse(service: "web", labels: S.lb([
            "hosts": "a.org", "pier.health_path": "/healthz", "pier.health_interval": "5s", "pier.health_timeout": "1s", "pier.health_status": "200",
        ]))
        #expect(none.isEmpty)
        #expect(try #require(probe).activeHealth == ActiveHealthCheck(path: "/healthz", interval: .seconds(5), timeout: .seconds(1),
                                                                        expectedStatus: 200...200))
        let (_, slow) = Labels.parse(service: "web", labels: S.lb(["hosts": "a.org", "pier.health_path": "/h", "pier.health_timeout": "20s"]))
        #expect(slow.map(\.reason) == ["longer than the interval; probes of an endpoint never overlap, so the interval is stretched to it"])
    }

    @Test("with ssl_passthrough, HTTP limits and probes have no effect; connect and read timeouts still apply")
    func passthrough() {
        let (_, issues) = Labels.parse(service: "vault", labels: S.lb([
            "hosts": "a.org", "ssl_passthrough": "true", "pier.max_body_size": "1m", "pier.health_path": "/h",
            "pier.connect_timeout": "1s", "pier.read_timeout": "1h",
        ]))
        #expect(issues.compactMap(\.key).sorted() == ["com.docker.lb.pier.health_path", "com.docker.lb.pier.max_body_size"])
    }

    @Test("services sharing a route: the first one's limits and probe apply, the others are told")
    func sharedPool() throws {
        let result = RouteTableBuilder().build([
            S.service("b", S.lb(["hosts": "shop.local", "port": "80", "pier.read_timeout": "9s", "pier.health_path": "/b"]), ["10.0.0.2"]),
            S.service("a", S.lb(["hosts": "shop.local", "port": "80", "pier.read_timeout": "3s", "pier.health_path": "/a"]), ["10.0.0.1"]),
        ])
        let pool = try #require(result.table.pools.first)
        #expect(pool.limits.readTimeout == .seconds(3))
        #expect(pool.activeHealth?.path == "/a")
        #expect(result.issues.map(\.reason) == [
            "shares its route with service \"a\", whose timeouts and body size limit apply to all of them: read=3s",
            "shares its route with service \"a\", whose health probe applies to all of them: health GET /a every 10s timeout 2s expects 200-399",
        ])
    }
}
