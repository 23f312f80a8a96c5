import NIOEmbedded
import NIOHTTP1
import RouteModel
import Testing

@testable import ProxyCore

/// Per-loop counters: class mapping, bucket choice, labels from the table, carry-over on reload, bounded
/// memory across reloads (design §2).
struct LoopMetricsTests {
    typealias Labels = DataPlaneSnapshot.RouteLabels

    /// A table of one route per host, each to its own single-service pool named after the host's first label.
    func table(_ generation: UInt64, hosts: [String], defaultTo defaultHost: String? = nil) -> RouteTable {
        var pools: [BackendPool] = []
        var routes: [Route] = []
        for (i, host) in hosts.enumerated() {
            let name = String(host.split(separator: ".")[0])
            pools.append(BackendPool(id: i, services: [name], endpoints: [Endpoint(host: "10.0.0.\(i % 250 + 1)", port: 80)]))
            routes.append(Route(host: .exact(host), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: i), services: [name]))
        }
        let defaultRoute = defaultHost.flatMap { host in routes.first { $0.host == .exact(host) } }
        return RouteTable(generation: generation, content: .init(routes: routes, pools: pools, defaultRoute: defaultRoute, settings: ProxySettings()))
    }

    /// Requests counted by route label.
    func counts(_ metrics: LoopMetrics) -> [String: UInt64] {
        var snapshot = DataPlaneSnapshot()
        snapshot.add(metrics)
        var counts: [String: UInt64] = [:]
        for (key, count) in snapshot.requests { counts[key.labels.route, default: 0] += count }
        return counts
    }

    /// The route index `decide` reports for `host`.
    func index(_ table: RouteTable, _ host: String) -> Int {
        var matched = -1
        _ = table.decide(host: host, target: "/", matched: &matched)
        return matched
    }

    @Test(arguments: [
        (HTTPMethod.GET, "GET"), (.HEAD, "HEAD"), (.POST, "POST"), (.PUT, "PUT"), (.DELETE, "DELETE"), (.PATCH, "PATCH"),
        (.OPTIONS, "OPTIONS"), (.CONNECT, "other"), (.TRACE, "other"), (.RAW(value: "BREW"), "other"),
    ])
    func methodClass(method: HTTPMethod, expected: String) {
        #expect(MetricClasses.methods[MetricClasses.method(method)] == expected)
    }

    @Test(arguments: [(UInt(0), "none"), (100, "1xx"), (101, "1xx"), (200, "2xx"), (299, "2xx"), (301, "3xx"), (404, "4xx"),
                      (499, "4xx"), (500, "5xx"), (599, "5xx"), (600, "none"), (99, "none")])
    func statusClass(status: UInt, expected: String) {
        #expect(MetricClasses.statuses[MetricClasses.status(status)] == expected)
    }

    @Test("bucket bounds are inclusive (Prometheus' le), the last bucket is +Inf")
    func bucketChoice() {
        let ms: UInt64 = 1_000_000
        #expect(MetricClasses.bucket(nanos: 0) == 0)
        #expect(MetricClasses.bucket(nanos: 5 * ms) == 0)
        #expect(MetricClasses.bucket(nanos: 5 * ms + 1) == 1)
        #expect(MetricClasses.bucket(nanos: 100 * ms) == 4)
        #expect(MetricClasses.bucket(nanos: 1000 * ms) == 7)
        #expect(MetricClasses.bucket(nanos: 10_000 * ms) == 10)
        #expect(MetricClasses.bucket(nanos: 10_000 * ms + 1) == 11)
        #expect(MetricClasses.bucket(nanos: .max) == MetricClasses.bucketCount - 1)
        #expect(DataPlaneSnapshot.Histogram.bounds.count + 1 == PrometheusWriter.bucketBounds.count)
        for (bound, text) in zip(DataPlaneSnapshot.Histogram.bounds, PrometheusWriter.bucketBounds) { #expect(Double(text) == bound) }
    }

    @Test("requests are counted under their route's labels, the default route's and no route's")
    func labelsFromTable() {
        let table = table(1, hosts: ["a.test", "b.test"], defaultTo: "b.test")
        var metrics = LoopMetrics()
        metrics.requestEnded(route: index(table, "a.test"), table: table, entrypoint: 0, method: 0, status: 1, nanos: 3_000_000)
        metrics.requestEnded(route: index(table, "unknown.test"), table: table, entrypoint: 1, method: 2, status: 4, nanos: 20_000_000)
        metrics.requestEnded(route: -1, table: table, entrypoint: 0, method: 0, status: 4, nanos: 1)
        var snapshot = DataPlaneSnapshot()
        snapshot.add(metrics)
        #expect(snapshot.requests == [
            .init(labels: Labels(route: "a.test/", service: "a"), entrypoint: "http", method: "GET", code: "2xx"): 1,
            .init(labels: Labels(route: "default", service: "b"), entrypoint: "https", method: "POST", code: "5xx"): 1,
            .init(labels: .noRoute, entrypoint: "http", method: "GET", code: "5xx"): 1,
        ])
        let a = snapshot.requestDurations[.init(labels: Labels(route: "a.test/", service: "a"), entrypoint: "http")]
        #expect(a?.buckets[0] == 1 && a?.count == 1 && a?.sumNanos == 3_000_000)
        #expect(snapshot.requestDurations[.init(labels: Labels(route: "default", service: "b"), entrypoint: "https")]?.buckets[2] == 1)
        #expect(snapshot.upstreamDurations.isEmpty)
    }

    @Test("a reload keeps the counts of routes that stay, drops those of routes that left; in-flight exchanges of the old table count by labels")
    func carryOverOnReload() {
        let old = table(1, hosts: ["a.test", "b.test"])
        var metrics = LoopMetrics()
        for _ in 0..<3 { metrics.requestEnded(route: index(old, "a.test"), table: old, entrypoint: 0, method: 0, status: 1, nanos: 1) }
        for _ in 0..<2 { metrics.requestEnded(route: index(old, "b.test"), table: old, entrypoint: 0, method: 0, status: 1, nanos: 1) }
        // "0.test" sorts first: a.test moves from index 0 to 1, so the carry-over must go by labels.
        let new = table(2, hosts: ["0.test", "a.test", "c.test"])
        metrics.requestEnded(route: index(new, "c.test"), table: new, entrypoint: 0, method: 0, status: 1, nanos: 1)
        #expect(counts(metrics) == ["a.test/": 3, "c.test/": 1])
        // Exchanges that started before the reload end after it.
        metrics.requestEnded(route: index(old, "a.test"), table: old, entrypoint: 0, method: 0, status: 1, nanos: 1)
        metrics.requestEnded(route: index(old, "b.test"), table: old, entrypoint: 0, method: 0, status: 1, nanos: 1)
        #expect(counts(metrics) == ["a.test/": 4, "c.test/": 1, "-": 1])
        metrics.requestEnded(route: index(new, "a.test"), table: new, entrypoint: 0, method: 0, status: 1, nanos: 1)
        #expect(counts(metrics)["a.test/"] == 5)
        // A route that returns starts again from zero (a counter reset for Prometheus).
        let back = table(3, hosts: ["a.test", "b.test"])
        metrics.requestEnded(route: index(back, "b.test"), table: back, entrypoint: 0, method: 0, status: 1, nanos: 1)
        #expect(counts(metrics) == ["a.test/": 5, "b.test/": 1, "-": 1])
    }

    @Test("1,000 reloads with changing routes: memory follows the current table")
    func noGrowthAcrossReloads() {
        var metrics = LoopMetrics()
        let pool = BackendPool(id: 0, services: ["gone"], endpoints: [])
        for generation in 1...1000 {
            let table = table(UInt64(generation), hosts: ["stay.test", "r\(generation).test", "s\(generation % 7).test"])
            for host in ["stay.test", "r\(generation).test", "s\(generation % 7).test", "nowhere.test"] {
                metrics.requestEnded(route: index(table, host), table: table, entrypoint: 0, method: 0, status: 1, nanos: 1)
            }
            metrics.upstreamResponded(route: index(table, "stay.test"), table: table, nanos: 1)
            metrics.count(table.pools[1], \.retries)
            metrics.count(pool, \.retries)
            #expect(metrics.labels.count == 5)
            #expect(metrics.cells.count <= 4 * LoopMetrics.blockSize)
            #expect(metrics.indexOfLabels.count <= 5)
        }
        // Only the last table's services and whatever came after the last reload.
        #expect(metrics.services.count <= 3)
        let byRoute = counts(metrics)
        #expect(byRoute["stay.test/"] == 1000)
        #expect(byRoute["r1000.test/"] == 1)
        #expect(byRoute["-"] == 1000)
        #expect(byRoute.count == 4)
    }

    @Test("retries and retry-budget refusals are counted by service; closes never go below opens")
    func serviceCounters() throws {
        let loop = EmbeddedEventLoop()
        let state = LoopState(eventLoop: loop, metrics: true)
        let table = table(1, hosts: ["a.test"])
        var pool = table.pools[0]
        pool.endpoints = [Endpoint(host: "10.0.0.1", port: 80), Endpoint(host: "10.0.0.2", port: 80)]
        let first = try #require(state.pick(pool, in: table, affinityKey: nil, now: 1))
        var retried = 0
        while state.pickForRetry(pool, affinityKey: nil, excluding: [first], now: 1).endpoint != nil { retried += 1 }
        let counters = try #require(state.metrics?.services["a"])
        // The budget starts with 100 tokens, the request added 0.2: 100 retries, then a refusal.
        #expect(retried == 100 && counters.retries == 100)
        #expect(counters.retryBudgetRefused == 1)
        state.metrics!.countClose("a", opened: \.upstreamOpened, closed: \.upstreamClosed)
        state.metrics!.countClose("nobody", opened: \.upstreamOpened, closed: \.upstreamClosed)
        #expect(state.metrics!.services["a"]!.upstreamClosed == 0)
        #expect(state.metrics!.services["nobody"] == nil)
        state.metrics!.count(pool, \.upstreamOpened)
        state.metrics!.countClose("a", opened: \.upstreamOpened, closed: \.upstreamClosed)
        state.metrics!.countClose("a", opened: \.upstreamOpened, closed: \.upstreamClosed)
        #expect(state.metrics!.services["a"]!.upstreamConnections == 0 && state.metrics!.services["a"]!.upstreamClosed == 1)
    }

    @Test("metrics off: the loop holds no counters")
    func off() {
        #expect(LoopState(eventLoop: EmbeddedEventLoop()).metrics == nil)
    }
}
