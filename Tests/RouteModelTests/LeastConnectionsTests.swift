import RouteModel
import Testing

@Suite("Balancer: least connections")
struct LeastConnectionsTests {
    typealias P = Pools

    @Test(
        "the fewest requests in flight relative to weight",
        arguments: [
            ([2, 0, 1], [], "b"),
            ([1, 3, 1], [], "a"),
            ([3, 1], [2, 1], "b"),
            ([3, 1], [4, 1], "a"),
            ([0, 0, 5], [0, 1, 1], "b"),
        ] as [([Int], [Double], String)])
    func fewest(inFlight: [Int], weights: [Double], expected: String) {
        var balancer = Balancer()
        let pool = P.pool(inFlight.count, weights: weights, policy: .leastConnections)
        for (i, n) in inFlight.enumerated() {
            for _ in 0..<n { balancer.requestStarted(on: pool.endpoints[i]) }
        }
        #expect(P.letter(balancer.pick(from: pool, affinityKey: nil, now: 0)) == expected)
    }

    @Test("ties are taken in turn, not always by the first endpoint")
    func ties() {
        var balancer = Balancer()
        let pool = P.pool(3, policy: .leastConnections)
        #expect(P.sequence(&balancer, pool, 6) == "abcabc")
        balancer.requestStarted(on: P.endpoint("a"))
        #expect(P.sequence(&balancer, pool, 4) == "bcbc")
    }

    @Test("requests that start and end steer the choice; counts never go below zero")
    func counting() {
        var balancer = Balancer()
        let pool = P.pool(2, policy: .leastConnections)
        var started: [String] = []
        for _ in 0..<4 {
            let e = balancer.pick(from: pool, affinityKey: nil, now: 0)!
            balancer.requestStarted(on: e)
            started.append(P.letter(e))
        }
        #expect(started.sorted() == ["a", "a", "b", "b"])
        #expect(balancer.inFlight(on: P.endpoint("a")) == 2)
        balancer.requestEnded(on: P.endpoint("b"))
        #expect(P.letter(balancer.pick(from: pool, affinityKey: nil, now: 0)) == "b")
        for _ in 0..<5 { balancer.requestEnded(on: P.endpoint("b")) }
        #expect(balancer.inFlight(on: P.endpoint("b")) == 0)
        balancer.requestEnded(on: P.endpoint("z"))
        #expect(balancer.inFlight(on: P.endpoint("z")) == 0)
    }

    @Test("an endpoint that is out is skipped even when it is the least busy")
    func skipsDown() {
        var balancer = Balancer()
        let pool = P.pool(2, policy: .leastConnections)
        balancer.requestStarted(on: P.endpoint("b"))
        balancer.reportFailure(P.endpoint("a"), health: pool.passiveHealth, now: 0)
        #expect(P.sequence(&balancer, pool, 3, now: 1) == "bbb")
    }
}
