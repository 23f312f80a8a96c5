import LabelConfig
import RouteModel
import Testing

@Suite("Pool composition: policy, passive health and weights of shared routes")
struct PoolCompositionTests {
    typealias S = Fixture

    /// The pool that serves `host` on the HTTP entrypoint, and every issue.
    static func pool(_ services: [ServiceDescription], host: String = "demo.local") throws -> (BackendPool, [String]) {
        let result = RouteTableBuilder().build(services, generation: 1)
        guard case .forward(_, let pool, _) = result.table.decide(host: host, target: "/") else {
            throw PoolError.noForward(result.issues.map(\.description))
        }
        return (pool, result.issues.map(\.description))
    }

    enum PoolError: Error { case noForward([String]) }

    static func demo(_ name: String, _ extra: [String: String], _ endpoints: [String]) -> ServiceDescription {
        var pairs = extra
        pairs["hosts"] = "demo.local"
        pairs["port"] = "8080"
        return S.service(name, S.lb(pairs), endpoints)
    }

    @Test("a lone service's labels make its pool's policy and passive health")
    func lone() throws {
        let (pool, issues) = try Self.pool([Self.demo("a", ["sticky_session_cookie": "sid", "max_fails": "3", "fail_timeout": "30s"], ["10.0.0.1"])])
        #expect(pool.policy == .cookie("sid"))
        #expect(pool.passiveHealth == PassiveHealth(maxFails: 3, failTimeout: .seconds(30)))
        #expect(pool.weights == [])
        #expect(issues == [])
    }

    @Test("the first service by name decides; the others are told whose setting applies")
    func firstDecides() throws {
        let (pool, issues) = try Self.pool([
            Self.demo("b", ["ip_hash": "true", "max_fails": "5"], ["10.0.0.2"]),
            Self.demo("a", ["sticky_session_cookie": "sid"], ["10.0.0.1"]),
            Self.demo("c", ["sticky_session_cookie": "sid", "fail_timeout": "10s"], ["10.0.0.3"]),
            Self.demo("d", [:], ["10.0.0.4"]),
        ])
        #expect(pool.policy == .cookie("sid"))
        #expect(pool.passiveHealth == PassiveHealth())
        #expect(issues == [
            #"warning: service "b": com.docker.lb.ip_hash="true": shares its route with service "a", whose balancing applies to all of them: sticky_session_cookie=sid"#,
            #"warning: service "b": com.docker.lb.max_fails="5": shares its route with service "a", whose passive health settings apply to all of them: max_fails=1 fail_timeout=10s"#,
            #"warning: service "d": shares its route with service "a", whose balancing applies to all of them: sticky_session_cookie=sid"#,
        ])
    }

    @Test("a service without balancing labels after one with them is told too; settings equal to the defaults are no difference")
    func defaultsAfter() throws {
        let (pool, issues) = try Self.pool([
            Self.demo("a", ["pier.balance": "least_conn", "fail_timeout": "1m"], ["10.0.0.1"]),
            Self.demo("b", ["pier.balance": "round_robin", "max_fails": "1"], ["10.0.0.2"]),
        ])
        #expect(pool.policy == .leastConnections)
        #expect(pool.passiveHealth == PassiveHealth(maxFails: 1, failTimeout: .seconds(60)))
        #expect(issues == [
            #"warning: service "b": shares its route with service "a", whose passive health settings apply to all of them: max_fails=1 fail_timeout=60s"#,
            #"warning: service "b": com.docker.lb.pier.balance="round_robin": shares its route with service "a", whose balancing applies to all of them: least_conn"#,
        ])
    }

    @Test(
        "weights: each endpoint of a service gets the service's weight divided by its endpoint count",
        arguments: [
            // (weight of a, endpoints of a, weight of b, endpoints of b) → weights of the pool
            ("90", 4, "10", 1, [22.5, 22.5, 22.5, 22.5, 10]),
            ("1", 1, "3", 3, [1, 1, 1, 1]),
            ("0", 2, "5", 1, [0, 0, 5]),
            ("100", 0, "0", 2, [0, 0]),
            (nil, 4, nil, 1, []),
        ] as [(String?, Int, String?, Int, [Double])])
    func weights(a: String?, countA: Int, b: String?, countB: Int, expected: [Double]) throws {
        let (pool, issues) = try Self.pool([
            Self.demo("a", a.map { ["pier.weight": $0] } ?? [:], (0..<countA).map { "10.0.1.\($0 + 1)" }),
            Self.demo("b", b.map { ["pier.weight": $0] } ?? [:], (0..<countB).map { "10.0.2.\($0 + 1)" }),
        ])
        #expect(pool.weights == expected)
        #expect(pool.weights.isEmpty || pool.weights.count == pool.endpoints.count)
        #expect(issues.allSatisfy { !$0.contains("pier.weight") }, "\(issues)")
    }

    @Test("a service without pier.weight beside one with it counts as weight 1, with a warning")
    func missingWeight() throws {
        let (pool, issues) = try Self.pool([
            Self.demo("a", ["pier.weight": "9"], ["10.0.1.1"]),
            Self.demo("b", [:], ["10.0.2.1", "10.0.2.2"]),
            Self.demo("c", ["pier.weight": "4"], ["10.0.3.1"]),
        ])
        #expect(pool.weights == [9, 0.5, 0.5, 4])
        #expect(issues == [
            #"warning: service "b": com.docker.lb.pier.weight: missing, while services "a", "c" on the same route have one; this service counts as weight 1"#,
        ])
    }

    @Test("every weight 0: a warning per service, and the weights are ignored")
    func allZero() throws {
        let (pool, issues) = try Self.pool([
            Self.demo("a", ["pier.weight": "0"], ["10.0.1.1"]),
            Self.demo("b", ["pier.weight": "0"], ["10.0.2.1"]),
        ])
        #expect(pool.weights == [])
        #expect(issues == [
            #"warning: service "a": com.docker.lb.pier.weight="0": every service of its route has weight 0; weights are ignored and all endpoints take requests"#,
            #"warning: service "b": com.docker.lb.pier.weight="0": every service of its route has weight 0; weights are ignored and all endpoints take requests"#,
        ])
    }

    @Test("passthrough pools: ip_hash and weights apply; a sticky cookie cannot")
    func passthrough() throws {
        let result = RouteTableBuilder().build([
            S.service("vault-a", S.lb(["hosts": "vault.local", "port": "8443", "ssl_passthrough": "true", "ip_hash": "true",
                                       "pier.weight": "3", "max_fails": "2"]), ["10.0.3.1"]),
            S.service("vault-b", S.lb(["hosts": "vault.local", "port": "8443", "ssl_passthrough": "true",
                                       "sticky_session_cookie": "sid", "pier.weight": "1"]), ["10.0.3.2"]),
        ], generation: 1)
        guard case .passthrough(let id, _) = result.table.tls.entries[.exact("vault.local")] else {
            Issue.record("expected a passthrough entry")
            return
        }
        let pool = result.table.pools[id]
        #expect(pool.policy == .clientAddress)
        #expect(pool.weights == [3, 1])
        #expect(pool.passiveHealth.maxFails == 2)
        #expect(result.issues.map(\.description) == [
            #"warning: service "vault-b": shares its route with service "vault-a", whose balancing applies to all of them: ip_hash"#,
            #"warning: service "vault-b": shares its route with service "vault-a", whose passive health settings apply to all of them: max_fails=2 fail_timeout=10s"#,
            #"warning: service "vault-b": com.docker.lb.sticky_session_cookie="sid": has no effect with com.docker.lb.ssl_passthrough=true: Pier does not see cookies inside TLS it relays; com.docker.lb.ip_hash can pin clients instead"#,
        ])
    }

    @Test("the default backend's pool carries its balancing too")
    func defaultBackend() throws {
        let result = RouteTableBuilder().build([
            S.service("fallback", S.lb(["default_backend": "true", "port": "80", "pier.balance": "least_conn"]), ["10.0.9.1"]),
        ], generation: 1)
        guard case .forward(_, let pool, _) = result.table.decide(host: "anything.local", target: "/") else {
            Issue.record("expected a forward")
            return
        }
        #expect(pool.policy == .leastConnections)
    }
}
