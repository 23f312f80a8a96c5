/// An HTTP probe Pier sends to every endpoint of a pool on its own (Pier extension labels
/// `com.docker.lb.pier.health_*`): endpoints that fail it leave rotation until they pass again.
public struct ActiveHealthCheck: Hashable, Sendable {
    /// The request path of the probe (a `GET`), e.g. `/healthz`.
    public var path: String
    /// Time between two probes of one endpoint.
    public var interval: Duration
    /// Time a probe may take, connect included; past it the probe failed.
    public var timeout: Duration
    /// Statuses that mean healthy.
    public var expectedStatus: ClosedRange<Int>

    /// A probe of `path`; the defaults are every 10 s, 2 s to answer, any 2xx or 3xx status.
    public init(path: String, interval: Duration = .seconds(10), timeout: Duration = .seconds(2),
                expectedStatus: ClosedRange<Int> = 200...399) {
        self.path = path
        self.interval = interval
        self.timeout = timeout
        self.expectedStatus = expectedStatus
    }
}

extension ActiveHealthCheck: CustomStringConvertible {
    /// `health GET /healthz every 10s timeout 2s expects 200-399`, for `pier routes`.
    public var description: String {
        let status = expectedStatus.count == 1 ? "\(expectedStatus.lowerBound)" : "\(expectedStatus.lowerBound)-\(expectedStatus.upperBound)"
        return "health GET \(path) every \(interval.nginxText) timeout \(timeout.nginxText) expects \(status)"
    }
}
