import NIOCore
import RouteModel

/// Per-event-loop state of the data plane: the upstream connection pool, the balancer (turns, requests in
/// flight, passive health), retry budgets, the deadlines of its HTTP/1.1 connections (one timer wheel) and a
/// fast random source for request ids.
///
/// Owned by one event loop: every method is called on it only, which is what makes the unchecked
/// Sendable conformance safe (the object is created off-loop and then only handed to handlers of its loop).
final class LoopState: @unchecked Sendable {
    let eventLoop: EventLoop
    let pool: UpstreamConnectionPool
    private var balancer = Balancer()
    /// Retry budgets by pool id; on a new generation each follows its services to their new pool id (ids shift
    /// as pools come and go, and a budget drained by one service's outage must not pass to another).
    private var budgets: [RetryBudget] = []
    /// The services of each pool id of the generation `budgets` is laid out for.
    private var budgetServices: [[String]] = []
    /// Endpoints active health checking found unhealthy (set by `HealthChecker`).
    private var unhealthy: Set<Endpoint> = []
    /// The newest table generation the balancer was trimmed for.
    private var generation: UInt64 = 0
    private var random: UInt64
    /// How many event loops share each endpoint's connection limit (`ServiceLimits.maxConnections`).
    let loopCount: Int
    /// This loop's data-plane counters; nil when metrics are off (nothing is counted).
    var metrics: LoopMetrics?

    /// The HTTP/1.1 codec of this loop's connections, both sides.
    let http1: HTTP1Implementation
    /// Buffers of the heads this loop's connections write as bytes, recycled.
    var headBuffers = HeadBufferPool()
    /// The exchange objects of this loop's connections, recycled.
    var exchanges = ExchangePool()
    /// The fields list this loop's codecs parse heads into.
    let fieldsScratch: HeadFieldsScratch
    /// Hosts and request targets read as Strings, kept so that the same bytes cost no allocation again.
    let strings = StringInterner()
    /// The deadlines of this loop's proxy handlers, in one wheel woken up by one scheduled task.
    let timers: LoopTimers

    init(eventLoop: EventLoop, loopCount: Int = 1, metrics: Bool = false, http1: HTTP1Implementation = .pier) {
        self.eventLoop = eventLoop
        self.http1 = http1
        self.loopCount = max(1, loopCount)
        self.metrics = metrics ? LoopMetrics() : nil
        let scratch = HeadFieldsScratch()
        self.fieldsScratch = scratch
        self.pool = UpstreamConnectionPool(eventLoop: eventLoop, http1: http1, fieldsScratch: scratch)
        self.timers = LoopTimers(eventLoop: eventLoop)
        self.random = UInt64.random(in: 1...UInt64.max)
    }

    /// The endpoint for a new request to `pool` of `table` (`affinityKey`: the sticky cookie's value or the
    /// client address, as the pool's policy asks). Counts the request toward the pool's retry budget.
    func pick(_ pool: BackendPool, in table: RouteTable, affinityKey: String?, now: UInt64) -> Endpoint? {
        eventLoop.assertInEventLoop()
        if table.generation > generation {
            // Once per generation: state of endpoints that left every pool goes (so that memory follows the
            // current table, not the number of reloads or of endpoints ever seen).
            generation = table.generation
            balancer.retain(poolsOf: table)
            self.pool.retainAddresses(of: table)
            var previous: [[String]: RetryBudget] = [:]
            for (id, services) in budgetServices.enumerated() where id < budgets.count { previous[services] = budgets[id] }
            budgetServices = table.pools.map(\.services)
            budgets = budgetServices.map { previous[$0] ?? RetryBudget() }
            metrics?.follow(table)
        }
        if budgets.count <= pool.id {
            budgets.append(contentsOf: repeatElement(RetryBudget(), count: pool.id + 1 - budgets.count))
        }
        budgets[pool.id].recordRequest(now: now)
        return balancer.pick(from: pool, affinityKey: affinityKey, excluding: unavailable(in: pool), now: now)
    }

    /// The endpoints of `pool` no request should go to now: failed probes, and those at their connection limit.
    private func unavailable(in pool: BackendPool) -> [Endpoint] {
        let down = unhealthy(in: pool)
        guard let max = pool.limits.maxConnections else { return down }
        return down + atConnectionLimit(in: pool, max: max)
    }

    /// This loop's share of `max` connections per endpoint.
    func connectionShare(of max: Int) -> Int { Swift.max(1, max / loopCount) }

    /// Endpoints of `pool` with this loop's share of connections open and none idle to reuse.
    private func atConnectionLimit(in pool: BackendPool, max: Int) -> [Endpoint] {
        let share = connectionShare(of: max)
        return pool.endpoints.filter { self.pool.openConnections(to: $0) >= share && !self.pool.hasIdle($0) }
    }

    /// Whether `endpoint` is out of rotation on this loop: its health probe failed, or passive health
    /// checking ejected it.
    func isOutOfRotation(_ endpoint: Endpoint, now: UInt64) -> Bool {
        unhealthy.contains(endpoint) || !balancer.isAvailable(endpoint, now: now)
    }

    /// Replaces the set of endpoints active health checking keeps out of rotation.
    func setUnhealthy(_ endpoints: Set<Endpoint>) {
        eventLoop.assertInEventLoop()
        unhealthy = endpoints
    }

    /// The endpoints of `pool` that failed their health probe; none when no endpoint that takes requests
    /// (positive weight) would be left (such a pool keeps serving: better a degraded answer than certain 503s).
    private func unhealthy(in pool: BackendPool) -> [Endpoint] {
        guard !unhealthy.isEmpty else { return [] }
        let down = pool.endpoints.filter { unhealthy.contains($0) }
        guard !down.isEmpty else { return [] }
        let weighted = pool.weights.count == pool.endpoints.count && pool.weights.contains { $0 > 0 }
        let left = pool.endpoints.indices.contains { i in
            (!weighted || pool.weights[i] > 0) && !unhealthy.contains(pool.endpoints[i])
        }
        return left ? down : []
    }

    /// Another endpoint of `pool` for a request that failed on those in `excluding`, if the pool's retry
    /// budget allows one more retry; otherwise why not.
    func pickForRetry(_ pool: BackendPool, affinityKey: String?, excluding: [Endpoint], now: UInt64) -> RetryPick {
        eventLoop.assertInEventLoop()
        guard let endpoint = balancer.pick(from: pool, affinityKey: affinityKey, excluding: excluding + unavailable(in: pool), now: now)
        else { return .refused(.noOtherEndpoint) }
        guard pool.id < budgets.count, budgets[pool.id].spendRetry(now: now) else {
            metrics?.count(pool, \.retryBudgetRefused)
            return .refused(.budgetExhausted)
        }
        metrics?.count(pool, \.retries)
        return .endpoint(endpoint)
    }

    /// A request (or tunnel) started on `endpoint`: least-connections counts it until `requestEnded`.
    func requestStarted(on endpoint: Endpoint) {
        balancer.requestStarted(on: endpoint)
    }

    /// The request counted by `requestStarted(on:)` ended.
    func requestEnded(on endpoint: Endpoint) {
        balancer.requestEnded(on: endpoint)
    }

    /// `endpoint` failed (passive health checking): failures within the pool's window take it out of rotation.
    func reportFailure(_ endpoint: Endpoint, health: PassiveHealth, now: UInt64) {
        balancer.reportFailure(endpoint, health: health, now: now)
    }

    /// `endpoint` answered: its failure count starts again. Free while no endpoint has anything recorded.
    func reportSuccess(_ endpoint: Endpoint) {
        if !balancer.isIdle { balancer.reportSuccess(endpoint) }
    }


    /// A new 32-hex-digit request id (nginx's `$request_id` format), from a per-loop xorshift generator.
    func makeRequestID() -> RequestID {
        func next() -> UInt64 {
            random ^= random << 13
            random ^= random >> 7
            random ^= random << 17
            return random
        }
        let high = next()
        return RequestID(generated: high, next())
    }
}
