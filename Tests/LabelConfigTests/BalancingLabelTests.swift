import LabelConfig
import RouteModel
import Testing

@Suite("Balancing labels")
struct BalancingLabelTests {
    @Test(
        "one policy per service: sticky_session_cookie, then ip_hash, then pier.balance; the losers are reported",
        arguments: [
            ([:], BalancingPolicy.roundRobin, []),
            (["sticky_session_cookie": "session"], .cookie("session"), []),
            (["ip_hash": "true"], .clientAddress, []),
            (["ip_hash": "false", "pier.balance": "least_conn"], .leastConnections, []),
            (["pier.balance": "round_robin"], .roundRobin, []),
            (["sticky_session_cookie": "s", "ip_hash": "true", "pier.balance": "least_conn"], .cookie("s"),
             ["com.docker.lb.ip_hash", "com.docker.lb.pier.balance"]),
            (["ip_hash": "t", "pier.balance": "least_conn"], .clientAddress, ["com.docker.lb.pier.balance"]),
            (["ssl_passthrough": "true", "sticky_session_cookie": "s"], .roundRobin, ["com.docker.lb.sticky_session_cookie"]),
            (["ssl_passthrough": "true", "sticky_session_cookie": "s", "ip_hash": "true"], .clientAddress,
             ["com.docker.lb.sticky_session_cookie"]),
            (["ssl_passthrough": "true", "pier.balance": "least_conn"], .leastConnections, []),
        ] as [([String: String], BalancingPolicy, [String])])
    func policy(extra: [String: String], expected: BalancingPolicy, warned: [String]) throws {
        var pairs = extra
        pairs["hosts"] = "a.org"
        let (parsed, issues) = Labels.parse(service: "web", labels: Fixture.lb(pairs))
        #expect(try #require(parsed).policy == expected)
        #expect(issues.allSatisfy { $0.severity == .warning })
        #expect(issues.compactMap(\.key) == warned)
    }

    @Test(
        "passive health: nginx defaults where a label is absent; no warning any more",
        arguments: [
            ([:], 1, 10),
            (["max_fails": "3"], 3, 10),
            (["fail_timeout": "30s"], 1, 30),
            (["max_fails": "0", "fail_timeout": "1m"], 0, 60),
        ] as [([String: String], Int, Int)])
    func passiveHealth(extra: [String: String], maxFails: Int, seconds: Int) throws {
        var pairs = extra
        pairs["hosts"] = "a.org"
        let (parsed, issues) = Labels.parse(service: "web", labels: Fixture.lb(pairs))
        #expect(try #require(parsed).passiveHealth == PassiveHealth(maxFails: maxFails, failTimeout: .seconds(seconds)))
        #expect(issues.isEmpty)
    }

    @Test("pier.weight and pier.balance are Pier extensions of the label vocabulary")
    func keys() {
        #expect(LabelKey.weight.label == "com.docker.lb.pier.weight")
        #expect(LabelKey.balance.label == "com.docker.lb.pier.balance")
        let (_, issues) = Labels.parse(service: "web", labels: Fixture.lb(["hosts": "a.org", "pier.weigth": "5"]))
        #expect(issues.map(\.reason) == ["unknown label; did you mean com.docker.lb.pier.weight?"])
    }
}
