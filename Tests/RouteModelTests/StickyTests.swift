import RouteModel
import Testing

@Suite("Balancer: sticky sessions (weighted rendezvous hashing)")
struct StickyTests {
    typealias P = Pools
    static let keys = (0..<1_000).map { "session-\($0)" }

    /// Where each key goes in `pool`.
    static func placement(_ pool: BackendPool, balancer: inout Balancer, excluding: [Endpoint] = [], now: UInt64 = 0) -> [String: Endpoint] {
        var out: [String: Endpoint] = [:]
        for key in keys { out[key] = balancer.pick(from: pool, affinityKey: key, excluding: excluding, now: now) }
        return out
    }

    /// `pool` without endpoint `i`, as the next table generation would have it.
    static func removing(_ i: Int, from pool: BackendPool) -> BackendPool {
        var next = pool
        next.endpoints.remove(at: i)
        if !next.weights.isEmpty { next.weights.remove(at: i) }
        return next
    }

    @Test("a key always goes to the same endpoint, whatever the turn, the balancer or the policy that hashes it",
          arguments: [BalancingPolicy.cookie("session"), .clientAddress])
    func stable(policy: BalancingPolicy) {
        var one = Balancer()
        var other = Balancer()
        let pool = P.pool(5, policy: policy)
        let first = Self.placement(pool, balancer: &one)
        #expect(Self.placement(pool, balancer: &one) == first)
        _ = P.sequence(&other, P.pool(5, policy: .roundRobin), 3)
        #expect(Self.placement(pool, balancer: &other) == first)
        // Spread over all five, roughly evenly.
        let counts = Dictionary(grouping: first.values, by: { $0 }).mapValues(\.count)
        #expect(counts.count == 5)
        #expect(counts.values.allSatisfy { (140...260).contains($0) }, "\(counts)")
    }

    @Test(
        "the choice is the same in every process and run: fixed expectations for a few keys",
        arguments: [
            ([], "c e c e d b"),
            // Checked against an independent implementation (Python, with libm's log).
            ([8, 1, 1, 1, 1], "a a c a a b"),
        ] as [([Double], String)])
    func deterministic(weights: [Double], expected: String) {
        var balancer = Balancer()
        let pool = P.pool(5, weights: weights, policy: .cookie("s"))
        let letters = ["alice", "bob", "carol", "dave", "10.1.2.3", "2001:db8::1"].map {
            P.letter(balancer.pick(from: pool, affinityKey: $0, now: 0))
        }
        #expect(letters.joined(separator: " ") == expected)
    }

    @Test("removing one of five endpoints moves exactly the keys it had")
    func removal() {
        var balancer = Balancer()
        let pool = P.pool(5, policy: .cookie("s"))
        let before = Self.placement(pool, balancer: &balancer)
        let gone = P.endpoint("c")
        let after = Self.placement(Self.removing(2, from: pool), balancer: &balancer)
        for key in Self.keys {
            if before[key] == gone {
                #expect(after[key] != gone)
            } else {
                #expect(after[key] == before[key], "\(key)")
            }
        }
    }

    @Test("adding a sixth endpoint moves about a sixth of the keys, all of them to the new one")
    func addition() {
        var balancer = Balancer()
        let before = Self.placement(P.pool(5, policy: .cookie("s")), balancer: &balancer)
        let after = Self.placement(P.pool(6, policy: .cookie("s")), balancer: &balancer)
        let moved = Self.keys.filter { before[$0] != after[$0] }
        #expect(moved.allSatisfy { after[$0] == P.endpoint("f") })
        #expect((117...217).contains(moved.count), "\(moved.count) of 1000 moved; about 167 expected")
    }

    @Test("an endpoint that is out, or excluded for a retry, gives its keys to others; the rest stay")
    func unavailable() {
        var balancer = Balancer()
        let pool = P.pool(4, policy: .clientAddress)
        let before = Self.placement(pool, balancer: &balancer)
        balancer.reportFailure(P.endpoint("b"), health: pool.passiveHealth, now: 0)
        let down = Self.placement(pool, balancer: &balancer, now: 1)
        let excluded = Self.placement(pool, balancer: &balancer, excluding: [P.endpoint("b")], now: 20 * P.second)
        for key in Self.keys {
            if before[key] == P.endpoint("b") {
                #expect(down[key] != P.endpoint("b"))
            } else {
                #expect(down[key] == before[key])
            }
            #expect(excluded[key] == down[key])
        }
        // Back after fail_timeout: its keys return to it.
        #expect(Self.placement(pool, balancer: &balancer, now: 20 * P.second) == before)
    }

    @Test("weighted rendezvous respects weights roughly, and weight 0 gets no key")
    func weighted() {
        var balancer = Balancer()
        let pool = P.pool(4, weights: [1, 2, 4, 0], policy: .cookie("s"))
        let placed = Self.placement(pool, balancer: &balancer)
        let counts = Dictionary(grouping: placed.values, by: { P.letter($0) }).mapValues(\.count)
        #expect(counts["d"] == nil)
        #expect((100...190).contains(counts["a", default: 0]), "\(counts)")
        #expect((220...350).contains(counts["b", default: 0]), "\(counts)")
        #expect((480...660).contains(counts["c", default: 0]), "\(counts)")
        // Removing a weighted endpoint still moves only its keys.
        let after = Self.placement(Self.removing(0, from: pool), balancer: &balancer)
        for key in Self.keys where placed[key] != P.endpoint("a") {
            #expect(after[key] == placed[key])
        }
    }

    @Test("a request without the cookie is round robined; weights still apply")
    func noKey() {
        var balancer = Balancer()
        #expect(P.sequence(&balancer, P.pool(3, policy: .cookie("s")), 6) == "abcabc")
        #expect(P.sequence(&balancer, P.pool(2, id: 1, weights: [2, 1], policy: .clientAddress), 3) == "aba")
    }
}
