/// Passive health checking of a pool's endpoints, as nginx's `max_fails` and `fail_timeout` (and MKE 3.8's
/// `com.docker.lb.max_fails` / `com.docker.lb.fail_timeout` labels) define it: an endpoint that accumulates
/// `maxFails` failures within `failTimeout` is skipped for `failTimeout`. `Balancer` keeps the counts.
public struct PassiveHealth: Hashable, Sendable, CustomStringConvertible {
    /// Failures within `failTimeout` that take an endpoint out; 0 disables passive health checking.
    public var maxFails: Int
    /// The window failures are counted in, and how long a failed endpoint is then skipped.
    public var failTimeout: Duration

    /// Creates settings; the defaults are nginx's (1 failure, 10 seconds).
    public init(maxFails: Int = 1, failTimeout: Duration = .seconds(10)) {
        self.maxFails = maxFails
        self.failTimeout = failTimeout
    }

    /// Whether failures take endpoints out at all.
    public var isEnabled: Bool { maxFails > 0 }

    /// `max_fails=1 fail_timeout=10s`, in label syntax.
    public var description: String {
        "max_fails=\(maxFails) fail_timeout=\(failTimeout.nginxText)"
    }

    /// `failTimeout` in nanoseconds, saturating; negative durations count as zero.
    var failTimeoutNanoseconds: UInt64 {
        Self.nanoseconds(failTimeout)
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        guard seconds < Int64(UInt64.max / 1_000_000_000) - 1 else { return UInt64.max }
        return UInt64(seconds) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}

extension Duration {
    /// The duration in nginx syntax, as labels and configuration files write it: `10s`, or `500ms` when it
    /// is not whole seconds.
    public var nginxText: String {
        let (seconds, attoseconds) = components
        if attoseconds == 0 { return "\(seconds)s" }
        return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)ms"
    }
}
