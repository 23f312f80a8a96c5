import RouteModel

/// The data plane's counters of one event loop: plain integers, incremented without a lock or an atomic
/// (every event of a loop happens on it), summed with the other loops' at scrape time
/// (`ProxyServer.metricsSnapshot()`). See docs/design/observability.md §2.
///
/// Per-request counters live in one flat array, one block of `blockSize` cells per route index of the laid
/// out table (routes, then the default route, then "no route"), a block allocated on a route's first request.
/// Rarer events (retries, connect failures, connections, tunnels) go to a dictionary by service label.
struct LoopMetrics: Sendable {
    typealias RouteLabels = DataPlaneSnapshot.RouteLabels

    static let methods = MetricClasses.methods.count
    static let statuses = MetricClasses.statuses.count
    static let entrypoints = MetricClasses.entrypoints.count
    /// Buckets, then the sum in nanoseconds.
    static let histogramCells = MetricClasses.bucketCount + 1
    static let codeCells = entrypoints * methods * statuses
    /// Request counts, request duration per entrypoint, upstream duration.
    static let blockSize = codeCells + entrypoints * histogramCells + histogramCells

    /// The generation the route indexes are laid out for; nil before the first table.
    var generation: UInt64?
    /// Labels of each route index (`routes.count`: default route; the last: no route).
    var labels: [RouteLabels] = [.noRoute]
    /// The first route index of each label, for exchanges of an older table and carry-over.
    var indexOfLabels: [RouteLabels: Int] = [.noRoute: 0]
    /// Block number of each route index in `cells`; -1 until its first request.
    var blocks: [Int32] = [-1]
    var cells: [UInt64] = []
    var services: [String: DataPlaneSnapshot.ServiceCounters] = [:]
    var tlsHandshakes = [UInt64](repeating: 0, count: DataPlaneSnapshot.TLSResult.allCases.count)
    var downstreamOpened = [UInt64](repeating: 0, count: entrypoints)
    var downstreamClosed = [UInt64](repeating: 0, count: entrypoints)
    var http2StreamsOpened: UInt64 = 0
    var http2StreamsClosed: UInt64 = 0
    /// Requests that ended in a failure, by `FailureCause.Kind` (in `allCases` order).
    var failures = [UInt64](repeating: 0, count: FailureCause.Kind.allCases.count)

    /// The index of "no route" in the current layout.
    var noRouteIndex: Int { labels.count - 1 }

    // MARK: - Requests

    /// An exchange of `table` that matched route index `route` (-1: none) ended after `nanos`.
    mutating func requestEnded(route: Int, table: RouteTable, entrypoint: Int, method: Int, status: Int, nanos: UInt64) {
        let base = block(index(route: route, in: table))
        cells[base &+ (entrypoint &* Self.methods &+ method) &* Self.statuses &+ status] &+= 1
        record(nanos, at: base &+ Self.codeCells &+ entrypoint &* Self.histogramCells)
    }

    /// The upstream answered an exchange of `table` on route index `route` `nanos` after the request was sent.
    mutating func upstreamResponded(route: Int, table: RouteTable, nanos: UInt64) {
        let base = block(index(route: route, in: table))
        record(nanos, at: base &+ Self.codeCells &+ Self.entrypoints &* Self.histogramCells)
    }

    private mutating func record(_ nanos: UInt64, at histogram: Int) {
        cells[histogram &+ MetricClasses.bucket(nanos: nanos)] &+= 1
        cells[histogram &+ MetricClasses.bucketCount] &+= nanos
    }

    /// The route index of the current layout for route index `route` of `table`: a newer table is laid out
    /// first; an older one (an exchange in flight across a reload) is matched by labels.
    mutating func index(route: Int, in table: RouteTable) -> Int {
        if table.generation != generation {
            if let generation, table.generation < generation {
                guard let matched = table.route(at: route) else { return noRouteIndex }
                return indexOfLabels[Self.labels(of: matched, default: route == table.routes.count)] ?? noRouteIndex
            }
            layOut(for: table)
        }
        return route >= 0 && route < noRouteIndex ? route : noRouteIndex
    }

    /// The offset of the block of route index `index`, allocated on first use.
    private mutating func block(_ index: Int) -> Int {
        let number = blocks[index]
        if number >= 0 { return Int(number) &* Self.blockSize }
        let next = cells.count / Self.blockSize
        blocks[index] = Int32(next)
        cells.append(contentsOf: repeatElement(0, count: Self.blockSize))
        return next * Self.blockSize
    }

    // MARK: - Services, connections, TLS

    /// Counts an event of `pool`'s service, unless it is a close of something this loop did not count open
    /// (the service left the table meanwhile): open gauges never go below zero.
    mutating func count(_ pool: BackendPool, _ counter: WritableKeyPath<DataPlaneSnapshot.ServiceCounters, UInt64>) {
        services[Self.service(of: pool), default: .init()][keyPath: counter] &+= 1
    }

    /// Counts a close matching an open counted by `count(_:_:)`, if that service is still counted.
    mutating func countClose(_ service: String, opened: KeyPath<DataPlaneSnapshot.ServiceCounters, UInt64>,
                             closed: WritableKeyPath<DataPlaneSnapshot.ServiceCounters, UInt64>) {
        guard let counters = services[service], counters[keyPath: opened] > counters[keyPath: closed] else { return }
        services[service]![keyPath: closed] &+= 1
    }

    /// A request ended in `cause` (counted by kind; the side derives from it).
    mutating func failed(_ cause: FailureCause) {
        failures[Self.kindIndex[cause.kind]!] &+= 1
    }

    static let kindIndex = Dictionary(uniqueKeysWithValues: FailureCause.Kind.allCases.enumerated().map { ($1, $0) })

    mutating func tlsHandshake(_ result: DataPlaneSnapshot.TLSResult) {
        tlsHandshakes[DataPlaneSnapshot.TLSResult.allCases.firstIndex(of: result)!] &+= 1
    }

    /// The `service` label of a pool.
    static func service(of pool: BackendPool) -> String {
        pool.services.count == 1 ? pool.services[0] : pool.services.joined(separator: ",")
    }
}
