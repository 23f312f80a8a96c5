/// Delays between reconnection attempts: doubling from `initial` to `maximum`, with equal jitter (a delay
/// in [base/2, base]) so that many clients losing the same server do not come back in step.
public struct Backoff: Sendable {
    /// The first base delay.
    public var initial: Duration
    /// The largest base delay.
    public var maximum: Duration
    private var base: Duration

    /// Creates a backoff at its first step.
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
        self.base = initial
    }

    /// The next delay; `random` draws from [0, 1).
    public mutating func next(random: () -> Double = { Double.random(in: 0..<1) }) -> Duration {
        let delay = base / 2 + base / 2 * random()
        base = min(base * 2, maximum)
        return delay
    }

    /// Back to the first step (after a connection that lived long enough to count as healthy).
    public mutating func reset() {
        base = initial
    }
}
