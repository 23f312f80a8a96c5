/// Bounds retries to a share of requests, so that retrying cannot multiply the load on endpoints that are
/// already failing (Finagle's and Linkerd's retry budget, as a token bucket).
///
/// Every downstream request deposits `ratio` tokens (call `recordRequest(now:)` once per request, never per
/// attempt, or retries would fund retries); time deposits `minimumPerSecond` tokens per second, so that quiet
/// routes can still retry; the bucket holds at most `capacity` and starts full. A retry takes one token and is
/// refused when there is less than one. With the defaults, after the first burst of 100 retries, at most 20 %
/// of requests plus 10 per second are retried.
///
/// Pure: `now` is nanoseconds of a monotonic clock, passed in. Each owner (one per event loop, or per pool and
/// event loop) keeps its own.
public struct RetryBudget: Sendable, Hashable {
    /// Tokens deposited by each request.
    public let ratio: Double
    /// Tokens deposited per second of time.
    public let minimumPerSecond: Double
    /// The most tokens the bucket holds.
    public let capacity: Double
    /// Tokens in the bucket as of the last call.
    public private(set) var tokens: Double
    private var lastRefill: UInt64?

    /// Creates a full budget. Negative or non-finite arguments count as 0 (a capacity below 1 allows no retry).
    public init(ratio: Double = 0.2, minimumPerSecond: Double = 10, capacity: Double = 100) {
        func clean(_ x: Double) -> Double { x.isFinite && x > 0 ? x : 0 }
        self.ratio = clean(ratio)
        self.minimumPerSecond = clean(minimumPerSecond)
        self.capacity = clean(capacity)
        self.tokens = self.capacity
    }

    /// A downstream request arrived: deposits `ratio` tokens.
    public mutating func recordRequest(now: UInt64) {
        refill(now: now)
        tokens = min(capacity, tokens + ratio)
    }

    /// Asks for one retry: true (and one token spent) when the budget allows it.
    public mutating func spendRetry(now: UInt64) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    private mutating func refill(now: UInt64) {
        // A clock that goes back (it should not) adds nothing instead of trapping.
        if let last = lastRefill, now > last {
            tokens = min(capacity, tokens + Double(now - last) * 1e-9 * minimumPerSecond)
        }
        if lastRefill == nil || now > lastRefill! { lastRefill = now }
    }
}
