/// A pool's weights as the balancer uses them: nil when all are equal (none given, all 0, or a list that does
/// not match the endpoints).
struct EffectiveWeights {
    let values: [Double]?
    /// Whether every endpoint with a positive weight has the same one.
    let uniform: Bool
    /// Whether every endpoint has the same positive weight.
    let allEqual: Bool

    init(_ pool: BackendPool) {
        let given = pool.weights
        // `!(w > 0)` also catches NaN.
        guard given.count == pool.endpoints.count, let first = given.first(where: { $0 > 0 }) else {
            values = nil
            uniform = true
            allEqual = true
            return
        }
        values = given
        uniform = given.allSatisfy { !($0 > 0) || $0 == first }
        allEqual = given.allSatisfy { $0 == first }
    }

    /// The weight of endpoint `i`; 0 for a non-positive one.
    subscript(i: Int) -> Double {
        guard let values else { return 1 }
        let w = values[i]
        return w > 0 && w.isFinite ? w : (w == .infinity ? Double.greatestFiniteMagnitude : 0)
    }
}

/// The endpoints one pick may choose from.
struct Candidates {
    let endpoints: [Endpoint]
    let weights: EffectiveWeights
    let excluding: [Endpoint]
    let now: UInt64
    /// Every eligible endpoint is out: fail open.
    let ignoringHealth: Bool
}

extension Balancer {
    func isCandidate(_ i: Int, _ c: Candidates) -> Bool {
        c.weights[i] > 0 && !c.excluding.contains(c.endpoints[i]) && (c.ignoringHealth || isAvailable(c.endpoints[i], now: c.now))
    }

    /// Equal weights: the k-th candidate in turn, so that a skipped endpoint's share is spread evenly over the
    /// others instead of going to its successor. Unequal weights: smooth weighted round robin.
    mutating func roundRobin(_ c: Candidates, pool: BackendPool) -> Int {
        guard c.weights.uniform else { return smoothWeighted(c, pool: pool) }
        var count = 0
        for i in c.endpoints.indices where isCandidate(i, c) { count += 1 }
        var k = nextTurn(pool.id) % count
        for i in c.endpoints.indices where isCandidate(i, c) {
            if k == 0 { return i }
            k -= 1
        }
        preconditionFailure("a counted candidate was not found again")
    }

    /// nginx's smooth weighted round robin: each candidate gains its weight, the one with the most is chosen
    /// and pays the total back. Weights 5, 1, 1 give a a b a c a a.
    mutating func smoothWeighted(_ c: Candidates, pool: BackendPool) -> Int {
        let given = pool.weights
        var state: WeightedState
        if let old = weighted.removeValue(forKey: pool.id), old.weights == given, old.endpoints == c.endpoints {
            state = old
            // Adopting the new arrays makes the next comparisons identity checks.
            state.endpoints = c.endpoints
            state.weights = given
        } else {
            state = WeightedState(endpoints: c.endpoints, weights: given, current: Array(repeating: 0, count: c.endpoints.count))
        }
        var total = 0.0
        var best = -1
        for i in c.endpoints.indices where isCandidate(i, c) {
            state.current[i] += c.weights[i]
            total += c.weights[i]
            if best < 0 || state.current[i] > state.current[best] { best = i }
        }
        state.current[best] -= total
        weighted[pool.id] = state
        return best
    }

    /// The fewest requests in flight relative to weight; ties are taken in turn (the pool's round-robin counter
    /// picks among them), so that an idle pool does not send everything to its first endpoint.
    mutating func leastConnections(_ c: Candidates, pool: BackendPool) -> Int {
        var least = Double.infinity
        var ties = 0
        for i in c.endpoints.indices where isCandidate(i, c) {
            let load = Double(inFlight(on: c.endpoints[i])) / c.weights[i]
            if load < least {
                least = load
                ties = 1
            } else if load == least {
                ties += 1
            }
        }
        var k = nextTurn(pool.id) % ties
        for i in c.endpoints.indices where isCandidate(i, c) && Double(inFlight(on: c.endpoints[i])) / c.weights[i] == least {
            if k == 0 { return i }
            k -= 1
        }
        preconditionFailure("a counted tie was not found again")
    }

    /// Weighted rendezvous (highest random weight) hashing: each candidate scores `w / −ln(u)`, u the key and
    /// endpoint hashed into (0, 1); the highest score wins. Removing an endpoint moves only its keys; adding one
    /// moves to it only the keys it now wins, about w / (total weight) of them.
    func rendezvous(_ c: Candidates, key: String) -> Int {
        let keyHash = StableHash.key(key)
        var best = -1
        var bestHash: UInt64 = 0
        var bestScore = 0.0
        for i in c.endpoints.indices where isCandidate(i, c) {
            let hash = StableHash.pair(key: keyHash, endpoint: StableHash.endpoint(c.endpoints[i]))
            if c.weights.uniform {
                // −1/ln(u) grows with u: comparing hashes gives the same order without a logarithm.
                if best < 0 || hash > bestHash {
                    best = i
                    bestHash = hash
                }
            } else {
                let score = c.weights[i] / -StableHash.log(StableHash.unit(hash))
                if best < 0 || score > bestScore {
                    best = i
                    bestScore = score
                }
            }
        }
        return best
    }
}
