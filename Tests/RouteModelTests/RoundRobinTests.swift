import RouteModel
import Testing

@Suite("Balancer: round robin and weights")
struct RoundRobinTests {
    typealias P = Pools

    @Test(
        "exact pick sequences",
        arguments: [
            ([], 3, "abcabcabc"),
            ([1, 1, 1], 3, "abcabcabc"),
            ([5, 1, 1], 3, "aabacaa" + "aabacaa"),
            ([2, 1], 2, "aba" + "aba"),
            ([3, 0, 1], 3, "aaca" + "aaca"),
            ([1, 1, 0], 3, "abab"),
            ([0, 0], 2, "abab"),
            ([4, 4, 0, 4], 4, "abdabd"),
            // A list that does not match the endpoints is ignored.
            ([5, 1], 3, "abcabc"),
        ] as [([Double], Int, String)])
    func sequences(weights: [Double], count: Int, expected: String) {
        var balancer = Balancer()
        #expect(P.sequence(&balancer, P.pool(count, weights: weights), expected.count) == expected)
    }

    @Test("weights 90/10 hold within 2 % over 10,000 picks")
    func ninetyTen() {
        var balancer = Balancer()
        let counts = P.counts(&balancer, P.pool(2, weights: [90, 10]), 10_000)
        #expect(abs(counts[P.endpoint("a"), default: 0] - 9_000) <= 200)
        #expect(abs(counts[P.endpoint("b"), default: 0] - 1_000) <= 200)
    }

    @Test("canary: service weights 90/10 over 4 + 1 endpoints give A's endpoints 90 % together")
    func weightedCanary() {
        // As the label compiler gives them: each endpoint of a service gets the service's weight / its count.
        var balancer = Balancer()
        let pool = P.pool(5, weights: [22.5, 22.5, 22.5, 22.5, 10])
        let counts = P.counts(&balancer, pool, 10_000)
        let a = "abcd".map { counts[P.endpoint($0), default: 0] }
        #expect(abs(a.reduce(0, +) - 9_000) <= 200)
        #expect(a.allSatisfy { abs($0 - 2_250) <= 200 }, "\(a)")
        #expect(abs(counts[P.endpoint("e"), default: 0] - 1_000) <= 200)
    }

    @Test("equal weights: an even split, and an endpoint that is out is skipped with its share spread evenly")
    func equalAndDown() {
        var balancer = Balancer()
        let pool = P.pool(3)
        let counts = P.counts(&balancer, pool, 300)
        #expect(counts.values.sorted() == [100, 100, 100])
        balancer.reportFailure(P.endpoint("b"), health: pool.passiveHealth, now: 0)
        let after = P.counts(&balancer, pool, 300, now: P.second)
        #expect(after[P.endpoint("a")] == 150)
        #expect(after[P.endpoint("b")] == nil)
        #expect(after[P.endpoint("c")] == 150)
    }

    @Test("a weighted endpoint that is out is skipped; the others keep their ratio")
    func weightedDown() {
        var balancer = Balancer()
        let pool = P.pool(3, weights: [2, 5, 1])
        balancer.reportFailure(P.endpoint("b"), health: pool.passiveHealth, now: 0)
        let counts = P.counts(&balancer, pool, 300, now: 1)
        #expect(counts[P.endpoint("a")] == 200)
        #expect(counts[P.endpoint("b")] == nil)
        #expect(counts[P.endpoint("c")] == 100)
    }

    @Test("turns are per pool id and survive a new generation of the same pool")
    func perPool() {
        var balancer = Balancer()
        let one = P.pool(3, id: 0)
        let two = P.pool(2, id: 1)
        #expect(P.sequence(&balancer, one, 2) == "ab")
        #expect(P.sequence(&balancer, two, 1) == "a")
        #expect(P.sequence(&balancer, one, 1) == "c")
        // The next generation's pool 0 (one more endpoint) carries on from the turn reached, not from a.
        #expect(P.sequence(&balancer, P.pool(4, id: 0), 2) == "da")
    }

    @Test("smooth weighted state restarts when the pool's weights or endpoints change")
    func weightedReset() {
        var balancer = Balancer()
        #expect(P.sequence(&balancer, P.pool(3, weights: [5, 1, 1]), 3) == "aab")
        #expect(P.sequence(&balancer, P.pool(2, weights: [2, 1]), 3) == "aba")
        #expect(P.sequence(&balancer, P.pool(2, weights: [1, 2]), 3) == "bab")
    }

    @Test("requests in flight and an endpoint's expired outage leave round robin as it was")
    func stateDoesNotMatter() {
        var balancer = Balancer()
        let pool = P.pool(3)
        balancer.requestStarted(on: P.endpoint("a"))
        balancer.reportFailure(P.endpoint("c"), health: pool.passiveHealth, now: 0)
        #expect(P.sequence(&balancer, pool, 6, now: 10 * P.second) == "abcabc")
    }

    @Test("an empty pool gives nothing")
    func empty() {
        var balancer = Balancer()
        for policy in [BalancingPolicy.roundRobin, .leastConnections, .cookie("s"), .clientAddress] {
            #expect(balancer.pick(from: P.pool(0, policy: policy), affinityKey: "k", now: 0) == nil)
        }
    }
}
