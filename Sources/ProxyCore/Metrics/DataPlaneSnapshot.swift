import RouteModel
/// The data plane's counters summed over every event loop at one scrape: a plain value, rendered by
/// `prometheusText()` and readable by the admin API. Labels come only from the configured route table and
/// fixed classes (no raw path or host), so its size follows the table, not the traffic.
public struct DataPlaneSnapshot: Sendable, Equatable {
    /// A route's labels: `route` is the host pattern and context root (`app.example.com/api`, `default` for
    /// the default route, `-` when no route matched); `service` the route's services joined by `,`.
    public struct RouteLabels: Hashable, Sendable, Comparable {
        public var route: String
        public var service: String

        /// Creates labels.
        public init(route: String, service: String) {
            self.route = route
            self.service = service
        }

        /// The labels of requests no route took.
        public static let noRoute = RouteLabels(route: "-", service: "-")

        public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.route, lhs.service) < (rhs.route, rhs.service) }
    }

    /// The labels of one request counter.
    public struct RequestKey: Hashable, Sendable {
        public var labels: RouteLabels
        /// `http` or `https`.
        public var entrypoint: String
        /// `GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `PATCH`, `OPTIONS` or `other`.
        public var method: String
        /// `1xx` … `5xx`, or `none` when the exchange ended without a response.
        public var code: String

        /// Creates a key.
        public init(labels: RouteLabels, entrypoint: String, method: String, code: String) {
            self.labels = labels
            self.entrypoint = entrypoint
            self.method = method
            self.code = code
        }
    }

    /// The labels of a request-duration histogram.
    public struct DurationKey: Hashable, Sendable {
        public var labels: RouteLabels
        public var entrypoint: String

        /// Creates a key.
        public init(labels: RouteLabels, entrypoint: String) {
            self.labels = labels
            self.entrypoint = entrypoint
        }
    }

    /// Observations per latency bucket (not cumulative; the last bucket is +Inf) and their sum.
    public struct Histogram: Sendable, Equatable {
        /// Upper bounds of the buckets in seconds, +Inf excluded.
        public static let bounds: [Double] = MetricClasses.bucketBounds.map { Double($0) / 1e9 }
        /// Count per bucket, `bounds.count + 1` of them.
        public var buckets: [UInt64]
        /// Sum of the observations in nanoseconds.
        public var sumNanos: UInt64

        /// An empty histogram.
        public init() {
            buckets = Array(repeating: 0, count: MetricClasses.bucketCount)
            sumNanos = 0
        }

        /// Number of observations.
        public var count: UInt64 { buckets.reduce(0, &+) }
    }

    /// The counters of one service (the `service` label: a pool's services joined by `,`).
    public struct ServiceCounters: Sendable, Equatable {
        public var connectRefused: UInt64 = 0
        public var connectTimedOut: UInt64 = 0
        /// Retries to another endpoint that were taken.
        public var retries: UInt64 = 0
        /// Retries the retry budget refused.
        public var retryBudgetRefused: UInt64 = 0
        public var upstreamOpened: UInt64 = 0
        public var upstreamClosed: UInt64 = 0
        public var webSocketOpened: UInt64 = 0
        public var webSocketClosed: UInt64 = 0
        public var passthroughOpened: UInt64 = 0
        public var passthroughClosed: UInt64 = 0

        /// Creates zero counters.
        public init() {}

        /// Open upstream (HTTP/1.1) connections.
        public var upstreamConnections: UInt64 { upstreamOpened &- upstreamClosed }
        /// Open WebSocket tunnels.
        public var webSocketTunnels: UInt64 { webSocketOpened &- webSocketClosed }
        /// Open passthrough relays.
        public var passthroughTunnels: UInt64 { passthroughOpened &- passthroughClosed }

        mutating func add(_ other: Self) {
            connectRefused &+= other.connectRefused
            connectTimedOut &+= other.connectTimedOut
            retries &+= other.retries
            retryBudgetRefused &+= other.retryBudgetRefused
            upstreamOpened &+= other.upstreamOpened
            upstreamClosed &+= other.upstreamClosed
            webSocketOpened &+= other.webSocketOpened
            webSocketClosed &+= other.webSocketClosed
            passthroughOpened &+= other.passthroughOpened
            passthroughClosed &+= other.passthroughClosed
        }
    }

    /// An endpoint of a service, for its health.
    public struct EndpointKey: Hashable, Sendable, Comparable {
        public var service: String
        /// `host:port`.
        public var endpoint: String

        /// Creates a key.
        public init(service: String, endpoint: String) {
            self.service = service
            self.endpoint = endpoint
        }

        public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.service, lhs.endpoint) < (rhs.service, rhs.endpoint) }
    }

    /// TLS handshake results, the `result` label of `pier_tls_handshakes_total`.
    public enum TLSResult: String, Sendable, CaseIterable {
        /// Terminated: the handshake completed.
        case ok
        /// No certificate for the SNI and no default: refused with `unrecognized_name`.
        case noCertificate = "no_certificate"
        /// The ClientHello or the handshake did not complete within `TLSHandshakeTimeout`.
        case timeout
        /// The handshake failed (garbled ClientHello, no common version or cipher, bad record…).
        case failed
        /// The certificate for the SNI could not be loaded.
        case certificateUnusable = "certificate_unusable"
    }

    /// Requests by route, entrypoint, method class and status class; zero counts are absent.
    public var requests: [RequestKey: UInt64] = [:]
    /// Request durations (head received → exchange ended) by route and entrypoint.
    public var requestDurations: [DurationKey: Histogram] = [:]
    /// Upstream durations (request sent → response head) by route.
    public var upstreamDurations: [RouteLabels: Histogram] = [:]
    /// Counters by service.
    public var services: [String: ServiceCounters] = [:]
    /// Downstream connections opened and closed by entrypoint (`http`, `https`).
    public var downstreamOpened: [String: UInt64] = [:]
    public var downstreamClosed: [String: UInt64] = [:]
    /// TLS handshakes by result.
    public var tlsHandshakes: [TLSResult: UInt64] = [:]
    /// Requests that ended in a failure, by its kind.
    public var failures: [FailureCause.Kind: UInt64] = [:]
    /// HTTP/2 streams opened and closed on the HTTPS entrypoint.
    public var http2StreamsOpened: UInt64 = 0
    public var http2StreamsClosed: UInt64 = 0
    /// Health of every endpoint of the current table's pools: active checks and passive ejections alike.
    public var endpointHealthy: [EndpointKey: Bool] = [:]
    /// The same health by endpoint alone (an endpoint in several pools is healthy only if it is in all).
    public var endpointInRotation: [Endpoint: Bool] = [:]
    /// The generation of the route table live at the scrape.
    public var routeTableGeneration: UInt64 = 0

    /// An empty snapshot.
    public init() {}

    /// Open downstream connections of `entrypoint`.
    public func downstreamConnections(_ entrypoint: String) -> UInt64 {
        (downstreamOpened[entrypoint] ?? 0) &- (downstreamClosed[entrypoint] ?? 0)
    }
}
