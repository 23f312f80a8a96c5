import NIOHTTP1
import RouteModel

/// The bounded label values of the data-plane metrics: whatever a client sends, a request falls into one of
/// a fixed number of classes, so that the number of series depends on the route table only.
enum MetricClasses {
    /// Method classes, in counter-index order: the seven common methods, then everything else.
    static let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"]
    /// Status classes, in counter-index order; `none`: the exchange ended without a response (client left).
    static let statuses = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"]
    /// Entrypoints, in counter-index order.
    static let entrypoints = ["http", "https"]
    /// Upper bounds (inclusive, as Prometheus' `le`) of the latency buckets in nanoseconds; one more bucket,
    /// +Inf, follows. Prometheus' client defaults, which cover a fast proxy hop up to a slow upload.
    static let bucketBounds: [UInt64] = [
        5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000,
        1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
    ]
    /// Buckets per histogram, +Inf included.
    static let bucketCount = bucketBounds.count + 1

    static func method(_ method: HTTPMethod) -> Int {
        switch method {
        case .GET: 0
        case .HEAD: 1
        case .POST: 2
        case .PUT: 3
        case .DELETE: 4
        case .PATCH: 5
        case .OPTIONS: 6
        default: 7
        }
    }

    static func status(_ code: UInt) -> Int {
        (100...599).contains(code) ? Int(code / 100) - 1 : 5
    }

    static func entrypoint(_ scheme: Scheme) -> Int {
        scheme == .http ? 0 : 1
    }

    /// The bucket of a duration: a linear scan, as most requests land in the first buckets.
    static func bucket(nanos: UInt64) -> Int {
        for (i, bound) in bucketBounds.enumerated() where nanos <= bound { return i }
        return bucketBounds.count
    }
}
