import RouteModel
import Testing

@Suite("Retry budget")
struct RetryBudgetTests {
    static let ms: UInt64 = 1_000_000

    /// How many of `n` retries asked for at `now` are allowed.
    static func retries(_ budget: inout RetryBudget, _ n: Int, now: UInt64) -> Int {
        (0..<n).filter { _ in budget.spendRetry(now: now) }.count
    }

    @Test("a burst of retries is refused once the bucket is empty")
    func burst() {
        var budget = RetryBudget(ratio: 0.2, minimumPerSecond: 10, capacity: 5)
        #expect(Self.retries(&budget, 20, now: 0) == 5)
        #expect(Self.retries(&budget, 1, now: 0) == 0)
    }

    @Test("requests refill by ratio: one retry per five requests")
    func requests() {
        var budget = RetryBudget(ratio: 0.2, minimumPerSecond: 0, capacity: 3)
        _ = Self.retries(&budget, 3, now: 0)
        for _ in 0..<4 { budget.recordRequest(now: 0) }
        #expect(Self.retries(&budget, 1, now: 0) == 0)
        budget.recordRequest(now: 0)
        #expect(Self.retries(&budget, 1, now: 0) == 1)
        for _ in 0..<100 { budget.recordRequest(now: 0) }
        #expect(Self.retries(&budget, 10, now: 0) == 3, "capped at capacity")
    }

    @Test("time refills minimumPerSecond, capped at capacity")
    func time() {
        var budget = RetryBudget(ratio: 0, minimumPerSecond: 10, capacity: 4)
        _ = Self.retries(&budget, 4, now: 0)
        #expect(Self.retries(&budget, 1, now: 50 * Self.ms) == 0)
        #expect(Self.retries(&budget, 1, now: 100 * Self.ms) == 1)
        #expect(Self.retries(&budget, 10, now: 350 * Self.ms) == 2)
        #expect(Self.retries(&budget, 10, now: 10_000 * Self.ms) == 4)
        // A clock that goes back adds nothing.
        #expect(Self.retries(&budget, 1, now: 0) == 0)
    }

    @Test("defaults: 20 % of requests, 10 per second, 100 in the bucket; nonsense counts as 0")
    func defaults() {
        let budget = RetryBudget()
        #expect(budget.ratio == 0.2)
        #expect(budget.minimumPerSecond == 10)
        #expect(budget.capacity == 100)
        #expect(budget.tokens == 100)
        var none = RetryBudget(ratio: -1, minimumPerSecond: .nan, capacity: 0.5)
        none.recordRequest(now: 0)
        #expect(Self.retries(&none, 1, now: 1_000_000_000_000) == 0)
    }
}
