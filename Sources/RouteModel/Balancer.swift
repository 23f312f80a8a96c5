/// Per-event-loop balancing state: round-robin positions, requests in flight and passive health of endpoints.
///
/// One `Balancer` belongs to one event loop, which owns it and calls it for every request it proxies; it does no
/// IO and reads no clock (`now` is passed in, nanoseconds of a monotonic clock). Counts are therefore per loop:
/// least-connections sees the requests of its own loop, and an endpoint that fails on one loop is skipped on
/// that loop only. Policies are described in docs/labels.md; `pick(from:affinityKey:excluding:now:)` applies the
/// pool's.
///
/// State is keyed by endpoint and by `BackendPool.id`, so it survives new route table generations: failure
/// windows of endpoints that stay, round-robin positions (a pool id reused by another pool only shifts where
/// its turn starts). Call `retain(only:)` with each new table to drop what belongs to endpoints that left.
public struct Balancer: Sendable {
    struct EndpointState: Sendable {
        var inFlight = 0
        /// Failures in the current window, which started at `windowStart`.
        var failures = 0
        var windowStart: UInt64 = 0
        /// The endpoint is skipped while `now < downUntil`.
        var downUntil: UInt64 = 0

        var isIdle: Bool { inFlight == 0 && failures == 0 && downUntil == 0 }
    }

    /// Smooth weighted round robin state of one pool, valid for these endpoints and weights only.
    struct WeightedState: Sendable {
        var endpoints: [Endpoint]
        var weights: [Double]
        var current: [Double]
    }

    var endpoints: [Endpoint: EndpointState] = [:]
    /// Round-robin position per pool id; also rotates least-connections ties.
    var counters: [Int] = []
    var weighted: [Int: WeightedState] = [:]
    /// No endpoint is out from this time on (the latest `downUntil` ever set): until then picks check each
    /// endpoint, afterwards they need not look.
    var anyDownUntil: UInt64 = 0

    /// Creates a balancer without state.
    public init() {}

    /// Whether no endpoint has anything recorded (no request in flight, no failure): success reports can be
    /// skipped.
    public var isIdle: Bool { endpoints.isEmpty }

    /// The endpoint for the next request to `pool`, or nil when none is left.
    ///
    /// - Endpoints with weight 0 are never chosen (unless every weight is 0), nor those in `excluding` (those
    ///   that already failed this request: a retry goes elsewhere or nowhere).
    /// - Endpoints that passive health checking took out are skipped. When every endpoint left (positive weight,
    ///   not excluded) is out, the balancer fails open: it chooses among them as if none were out, so that a
    ///   blip that took them all out does not become `failTimeout` of refused requests.
    /// - `affinityKey` is the cookie value (`.cookie`) or the client address (`.clientAddress`); other policies
    ///   ignore it, and a nil key under those two falls back to round robin.
    public mutating func pick(from pool: BackendPool, affinityKey: String?, excluding: [Endpoint] = [], now: UInt64) -> Endpoint? {
        let list = pool.endpoints
        guard !list.isEmpty else { return nil }
        let weights = EffectiveWeights(pool)
        // Fast path of the common case: equal weights, no endpoint out, no retry.
        if now >= anyDownUntil, excluding.isEmpty, weights.allEqual, affinityKey == nil || !pool.policy.usesAffinity,
            pool.policy != .leastConnections
        {
            return list[nextTurn(pool.id) % list.count]
        }
        var anyEligible = false
        var anyAvailable = false
        for i in list.indices where weights[i] > 0 && !excluding.contains(list[i]) {
            anyEligible = true
            if isAvailable(list[i], now: now) {
                anyAvailable = true
                break
            }
        }
        guard anyEligible else { return nil }
        let candidates = Candidates(endpoints: list, weights: weights, excluding: excluding, now: now,
                                    ignoringHealth: !anyAvailable)
        let index: Int
        switch pool.policy {
        case .cookie, .clientAddress:
            if let affinityKey {
                index = rendezvous(candidates, key: affinityKey)
            } else {
                index = roundRobin(candidates, pool: pool)
            }
        case .roundRobin:
            index = roundRobin(candidates, pool: pool)
        case .leastConnections:
            index = leastConnections(candidates, pool: pool)
        }
        return list[index]
    }

    /// A request to `endpoint` started (least-connections counts it until `requestEnded(on:)`).
    public mutating func requestStarted(on endpoint: Endpoint) {
        endpoints[endpoint, default: EndpointState()].inFlight += 1
    }

    /// A request to `endpoint` ended, however it ended. Never counts below zero.
    public mutating func requestEnded(on endpoint: Endpoint) {
        update(endpoint) { $0.inFlight = max(0, $0.inFlight - 1) }
    }

    /// A request to `endpoint` failed (could not connect, timed out, broken response). The `maxFails`-th failure
    /// within `failTimeout` of the first one takes the endpoint out for `failTimeout`; a failure more than
    /// `failTimeout` after the first one of the window starts a new window. Failures of an endpoint that is out
    /// change nothing, and `maxFails` 0 ignores failures.
    public mutating func reportFailure(_ endpoint: Endpoint, health: PassiveHealth, now: UInt64) {
        guard health.isEnabled else { return }
        let timeout = health.failTimeoutNanoseconds
        var state = endpoints[endpoint] ?? EndpointState()
        guard now >= state.downUntil else { return }
        state.downUntil = 0
        if state.failures == 0 || now < state.windowStart || now - state.windowStart >= timeout {
            state.failures = 0
            state.windowStart = now
        }
        state.failures += 1
        if state.failures >= health.maxFails {
            state.failures = 0
            state.downUntil = now.addingReportingOverflow(timeout).overflow ? UInt64.max : now + timeout
            anyDownUntil = max(anyDownUntil, state.downUntil)
        }
        endpoints[endpoint] = state
    }

    /// A request to `endpoint` succeeded: its failure count is reset, and if it was out (a request sent while
    /// failing open, or one that started before), it is back.
    public mutating func reportSuccess(_ endpoint: Endpoint) {
        update(endpoint) {
            $0.failures = 0
            $0.downUntil = 0
        }
    }

    /// Whether passive health checking lets `endpoint` take requests at `now`.
    public func isAvailable(_ endpoint: Endpoint, now: UInt64) -> Bool {
        guard now < anyDownUntil, let state = endpoints[endpoint] else { return true }
        return now >= state.downUntil
    }

    /// Requests in flight to `endpoint`, as counted by `requestStarted(on:)` and `requestEnded(on:)`.
    public func inFlight(on endpoint: Endpoint) -> Int {
        endpoints[endpoint]?.inFlight ?? 0
    }

    /// Forgets the state of every endpoint not in `keep`, and the weighted round-robin state of pools that had
    /// such an endpoint. Call it with the endpoints of each new route table so that memory follows the table;
    /// endpoints that stay keep their failure windows and counts.
    public mutating func retain(only keep: Set<Endpoint>) {
        endpoints = endpoints.filter { keep.contains($0.key) }
        weighted = weighted.filter { $0.value.endpoints.allSatisfy(keep.contains) }
    }

    /// `retain(only:)` with every endpoint of `table`'s pools; also forgets the weighted state of pool ids the
    /// table no longer has.
    public mutating func retain(poolsOf table: RouteTable) {
        let pools = table.content.pools
        retain(only: Set(pools.lazy.flatMap(\.endpoints)))
        weighted = weighted.filter { $0.key < pools.count }
    }

    /// This pool's turn counter, then advances it. Counters stay across generations: resetting them on every
    /// reload would favour the first endpoints when reloads are frequent.
    mutating func nextTurn(_ pool: Int) -> Int {
        let id = max(0, pool)
        if counters.count <= id {
            counters.append(contentsOf: repeatElement(0, count: id + 1 - counters.count))
        }
        let turn = counters[id]
        counters[id] = turn == Int.max ? 0 : turn + 1
        return turn
    }

    private mutating func update(_ endpoint: Endpoint, _ change: (inout EndpointState) -> Void) {
        guard var state = endpoints[endpoint] else { return }
        change(&state)
        endpoints[endpoint] = state.isIdle ? nil : state
    }
}

extension BalancingPolicy {
    /// Whether the policy hashes an affinity key.
    var usesAffinity: Bool {
        switch self {
        case .cookie, .clientAddress: return true
        case .roundRobin, .leastConnections: return false
        }
    }
}
