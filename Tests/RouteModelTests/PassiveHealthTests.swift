import RouteModel
import Testing

@Suite("Balancer: passive health, retries, memory")
struct PassiveHealthTests {
    typealias P = Pools
    static let s = Pools.second

    /// Failure times (seconds) for endpoint a of a two-endpoint pool, then whether a is available at `at`.
    @Test(
        "max_fails failures within fail_timeout take an endpoint out for fail_timeout",
        arguments: [
            // maxFails, timeout (s), failures at (s), checked at (s), available
            (1, 10, [0], 0, false),
            (1, 10, [0], 9, false),
            (1, 10, [0], 10, true),
            (3, 10, [0, 1], 2, true),
            (3, 10, [0, 1, 9], 9, false),
            (3, 10, [0, 1, 9], 18, false),
            (3, 10, [0, 1, 9], 19, true),
            // Spread wider than the window: never three within 10 s of the window's first failure.
            (3, 10, [0, 6, 12, 18, 24], 24, true),
            (2, 10, [0, 11], 11, true),
            (2, 10, [0, 11, 12], 12, false),
            (0, 10, [0, 0, 0, 0, 0], 0, true),
            (2, 30, [0, 29], 58, false),
            (2, 30, [0, 29], 59, true),
        ] as [(Int, Int, [UInt64], UInt64, Bool)])
    func window(maxFails: Int, timeout: Int, failures: [UInt64], at: UInt64, available: Bool) {
        var balancer = Balancer()
        let health = PassiveHealth(maxFails: maxFails, failTimeout: .seconds(timeout))
        for t in failures { balancer.reportFailure(P.endpoint("a"), health: health, now: t * Self.s) }
        #expect(balancer.isAvailable(P.endpoint("a"), now: at * Self.s) == available)
        #expect(balancer.isAvailable(P.endpoint("b"), now: at * Self.s))
        let pool = P.pool(2, health: health)
        let picks = P.sequence(&balancer, pool, 4, now: at * Self.s)
        #expect(picks == (available ? "abab" : "bbbb"))
    }

    @Test("defaults are nginx's: 1 failure, 10 seconds")
    func defaults() {
        #expect(PassiveHealth() == PassiveHealth(maxFails: 1, failTimeout: .seconds(10)))
        #expect(PassiveHealth().description == "max_fails=1 fail_timeout=10s")
        #expect(PassiveHealth(maxFails: 3, failTimeout: .milliseconds(1500)).description == "max_fails=3 fail_timeout=1500ms")
        #expect(BackendPool(id: 0, services: [], endpoints: []).passiveHealth == PassiveHealth())
        #expect(BackendPool(id: 0, services: [], endpoints: []).policy == .roundRobin)
    }

    @Test("a success resets the count and brings an endpoint that is out back; failures while out change nothing")
    func success() {
        var balancer = Balancer()
        let health = PassiveHealth(maxFails: 2, failTimeout: .seconds(10))
        let a = P.endpoint("a")
        balancer.reportFailure(a, health: health, now: 0)
        balancer.reportSuccess(a)
        balancer.reportFailure(a, health: health, now: 1 * Self.s)
        #expect(balancer.isAvailable(a, now: 1 * Self.s))
        balancer.reportFailure(a, health: health, now: 2 * Self.s)
        #expect(!balancer.isAvailable(a, now: 2 * Self.s))
        // Out until 12 s; a failure at 5 s does not extend it.
        balancer.reportFailure(a, health: health, now: 5 * Self.s)
        #expect(balancer.isAvailable(a, now: 12 * Self.s))
        balancer.reportFailure(a, health: health, now: 13 * Self.s)
        balancer.reportFailure(a, health: health, now: 13 * Self.s)
        #expect(!balancer.isAvailable(a, now: 13 * Self.s))
        balancer.reportSuccess(a)
        #expect(balancer.isAvailable(a, now: 13 * Self.s))
    }

    @Test("when every endpoint is out, picks fail open over all of them", arguments: [
        BalancingPolicy.roundRobin, .leastConnections, .cookie("s"), .clientAddress,
    ])
    func failOpen(policy: BalancingPolicy) {
        var balancer = Balancer()
        let pool = P.pool(2, weights: [1, 1, 0].prefix(2).map { $0 }, policy: policy)
        for e in pool.endpoints { balancer.reportFailure(e, health: pool.passiveHealth, now: 0) }
        let picks = (0..<20).map { P.letter(balancer.pick(from: pool, affinityKey: "k\($0)", now: 1)) }
        #expect(Set(picks) == ["a", "b"])
        // Still, an excluded endpoint is never returned.
        let retry = (0..<20).map { P.letter(balancer.pick(from: pool, affinityKey: "k\($0)", excluding: [P.endpoint("a")], now: 1)) }
        #expect(Set(retry) == ["b"])
    }

    @Test("fail open keeps weight-0 endpoints out")
    func failOpenDrained() {
        var balancer = Balancer()
        let pool = P.pool(3, weights: [1, 1, 0])
        for e in pool.endpoints.prefix(2) { balancer.reportFailure(e, health: pool.passiveHealth, now: 0) }
        #expect(P.sequence(&balancer, pool, 4, now: 1) == "abab")
    }

    @Test("excluded endpoints are never returned; nothing left gives nil", arguments: [
        BalancingPolicy.roundRobin, .leastConnections, .cookie("s"), .clientAddress,
    ])
    func excluding(policy: BalancingPolicy) {
        var balancer = Balancer()
        let pool = P.pool(3, policy: policy)
        let tried = [P.endpoint("a"), P.endpoint("c")]
        for i in 0..<10 {
            #expect(balancer.pick(from: pool, affinityKey: "key\(i)", excluding: tried, now: 0) == P.endpoint("b"))
        }
        #expect(balancer.pick(from: pool, affinityKey: "key", excluding: pool.endpoints, now: 0) == nil)
        // Only a weight-0 endpoint left is nothing left either.
        let drained = P.pool(3, weights: [1, 1, 0], policy: policy)
        #expect(balancer.pick(from: drained, affinityKey: "key", excluding: tried.prefix(1) + [P.endpoint("b")], now: 0) == nil)
    }

    @Test("retain(only:) forgets endpoints that left and keeps the failure windows of those that stay")
    func retain() {
        var balancer = Balancer()
        let health = PassiveHealth(maxFails: 2, failTimeout: .seconds(10))
        let (a, b, c) = (P.endpoint("a"), P.endpoint("b"), P.endpoint("c"))
        balancer.reportFailure(a, health: health, now: 0)
        balancer.reportFailure(b, health: health, now: 0)
        balancer.reportFailure(b, health: health, now: 0)
        balancer.requestStarted(on: c)
        balancer.retain(only: [a, b])
        #expect(balancer.inFlight(on: c) == 0)
        #expect(!balancer.isAvailable(b, now: Self.s))
        balancer.reportFailure(a, health: health, now: Self.s)
        #expect(!balancer.isAvailable(a, now: Self.s), "a's first failure was kept")
        balancer.retain(only: [])
        #expect(balancer.isAvailable(a, now: Self.s))
        #expect(balancer.isAvailable(b, now: Self.s))
    }

    @Test("retain(poolsOf:) keeps what the table's pools use")
    func retainTable() {
        var balancer = Balancer()
        let pool = P.pool(2)
        let table = RouteTable(generation: 2, content: .init(routes: [], pools: [pool], defaultRoute: nil, settings: ProxySettings()))
        balancer.requestStarted(on: P.endpoint("a"))
        balancer.requestStarted(on: P.endpoint("z"))
        balancer.retain(poolsOf: table)
        #expect(balancer.inFlight(on: P.endpoint("a")) == 1)
        #expect(balancer.inFlight(on: P.endpoint("z")) == 0)
    }
}
