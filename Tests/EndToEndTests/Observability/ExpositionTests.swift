import ProxyCore
import Testing
import TestSupport

/// `DataPlaneSnapshot.prometheusText()` against the strict parser, and the parser against what it must reject.
struct ExpositionTests {
    typealias Labels = DataPlaneSnapshot.RouteLabels

    static func sample() -> DataPlaneSnapshot {
        var snapshot = DataPlaneSnapshot()
        let web = Labels(route: "app.example.com/", service: "web")
        // Labels are configured values: a quote, a backslash or a line feed must survive the round trip.
        let odd = Labels(route: "*.example.com/a\"b\\c\nd", service: "v1,v2")
        snapshot.requests[.init(labels: web, entrypoint: "http", method: "GET", code: "2xx")] = 7
        snapshot.requests[.init(labels: web, entrypoint: "https", method: "POST", code: "5xx")] = 2
        snapshot.requests[.init(labels: odd, entrypoint: "http", method: "other", code: "none")] = 1
        var histogram = DataPlaneSnapshot.Histogram()
        histogram.buckets[0] = 5
        histogram.buckets[3] = 2
        histogram.buckets[11] = 1
        histogram.sumNanos = 12_500_000_001
        snapshot.requestDurations[.init(labels: web, entrypoint: "http")] = histogram
        snapshot.upstreamDurations[web] = histogram
        var counters = DataPlaneSnapshot.ServiceCounters()
        counters.connectRefused = 3
        counters.retries = 4
        counters.retryBudgetRefused = 1
        counters.upstreamOpened = 5
        counters.upstreamClosed = 2
        counters.webSocketOpened = 2
        counters.webSocketClosed = 1
        snapshot.services["web"] = counters
        snapshot.downstreamOpened = ["http": 10, "https": 1]
        snapshot.downstreamClosed = ["http": 8, "https": 1]
        snapshot.tlsHandshakes = [.ok: 6, .noCertificate: 1]
        snapshot.http2StreamsOpened = 9
        snapshot.http2StreamsClosed = 9
        snapshot.endpointHealthy = [.init(service: "web", endpoint: "10.0.0.1:80"): true, .init(service: "web", endpoint: "10.0.0.2:80"): false]
        snapshot.routeTableGeneration = 42
        return snapshot
    }

    @Test("every family has HELP and TYPE, and the values are the snapshot's")
    func roundTrip() throws {
        let text = Self.sample().prometheusText()
        let parsed = try PrometheusExposition(parsing: text)
        for family in parsed.families {
            #expect(family.help != nil && family.type != nil, "\(family.name)")
            #expect(family.name.hasPrefix("pier_"))
        }
        let web = ["route": "app.example.com/", "service": "web"]
        #expect(parsed.value("pier_http_requests_total", web.merging(["entrypoint": "http", "method": "GET", "code": "2xx"]) { a, _ in a }) == 7)
        #expect(parsed.value("pier_http_requests_total", web.merging(["entrypoint": "https", "method": "POST", "code": "5xx"]) { a, _ in a }) == 2)
        #expect(parsed.value("pier_http_requests_total", ["route": "*.example.com/a\"b\\c\nd", "service": "v1,v2", "entrypoint": "http",
                                                           "method": "other", "code": "none"]) == 1)
        #expect(parsed.sum("pier_http_requests_total") == 10)
        let http = web.merging(["entrypoint": "http"]) { a, _ in a }
        #expect(parsed.value("pier_http_request_duration_seconds_bucket", http.merging(["le": "0.005"]) { a, _ in a }) == 5)
        #expect(parsed.value("pier_http_request_duration_seconds_bucket", http.merging(["le": "0.025"]) { a, _ in a }) == 5)
        #expect(parsed.value("pier_http_request_duration_seconds_bucket", http.merging(["le": "0.05"]) { a, _ in a }) == 7)
        #expect(parsed.value("pier_http_request_duration_seconds_bucket", http.merging(["le": "10"]) { a, _ in a }) == 7)
        #expect(parsed.value("pier_http_request_duration_seconds_bucket", http.merging(["le": "+Inf"]) { a, _ in a }) == 8)
        #expect(parsed.value("pier_http_request_duration_seconds_count", http) == 8)
        #expect(parsed.value("pier_http_request_duration_seconds_sum", http) == 12.500000001)
        #expect(parsed.value("pier_http_upstream_duration_seconds_count", web) == 8)
        #expect(parsed.value("pier_upstream_connect_failures_total", ["service": "web", "reason": "refused"]) == 3)
        #expect(parsed.value("pier_upstream_connect_failures_total", ["service": "web", "reason": "timeout"]) == nil)
        #expect(parsed.value("pier_upstream_retries_total", ["service": "web"]) == 4)
        #expect(parsed.value("pier_upstream_retry_budget_refused_total", ["service": "web"]) == 1)
        #expect(parsed.value("pier_upstream_connections", ["service": "web"]) == 3)
        #expect(parsed.value("pier_downstream_connections", ["entrypoint": "http"]) == 2)
        #expect(parsed.value("pier_downstream_connections", ["entrypoint": "https"]) == 0)
        #expect(parsed.value("pier_tls_handshakes_total", ["result": "ok"]) == 6)
        #expect(parsed.value("pier_tls_handshakes_total", ["result": "no_certificate"]) == 1)
        #expect(parsed.value("pier_tls_handshakes_total", ["result": "failed"]) == nil)
        #expect(parsed.value("pier_http2_streams") == 0)
        #expect(parsed.value("pier_http2_streams_total") == 9)
        #expect(parsed.value("pier_tunnels", ["kind": "websocket", "service": "web"]) == 1)
        #expect(parsed.value("pier_tunnels_total", ["kind": "websocket", "service": "web"]) == 2)
        #expect(parsed.value("pier_tunnels_total", ["kind": "passthrough", "service": "web"]) == nil)
        #expect(parsed.value("pier_endpoint_healthy", ["service": "web", "endpoint": "10.0.0.1:80"]) == 1)
        #expect(parsed.value("pier_endpoint_healthy", ["service": "web", "endpoint": "10.0.0.2:80"]) == 0)
        #expect(parsed.value("pier_data_plane_generation") == 42)
        #expect(parsed.family("pier_http_request_duration_seconds")?.type == "histogram")
        #expect(parsed.family("pier_downstream_connections")?.type == "gauge")
    }

    @Test("golden lines: label order, escapes, cumulative buckets, exact decimal sums")
    func golden() throws {
        let text = Self.sample().prometheusText()
        let lines = Set(text.split(separator: "\n").map(String.init))
        for line in [
            "# TYPE pier_http_requests_total counter",
            #"pier_http_requests_total{entrypoint="http",route="app.example.com/",service="web",method="GET",code="2xx"} 7"#,
            #"pier_http_requests_total{entrypoint="http",route="*.example.com/a\"b\\c\nd",service="v1,v2",method="other",code="none"} 1"#,
            #"pier_http_request_duration_seconds_bucket{entrypoint="http",route="app.example.com/",service="web",le="0.01"} 5"#,
            #"pier_http_request_duration_seconds_sum{entrypoint="http",route="app.example.com/",service="web"} 12.500000001"#,
            "pier_data_plane_generation 42",
        ] {
            #expect(lines.contains(line), "missing: \(line)\n\(text)")
        }
        #expect(DataPlaneSnapshot().prometheusText().contains("pier_http_requests_total{") == false)
        #expect(try PrometheusExposition(parsing: DataPlaneSnapshot().prometheusText()).value("pier_data_plane_generation") == 0)
    }

    @Test("seconds from nanoseconds are exact")
    func seconds() {
        #expect(DataPlaneSnapshot.Histogram.bounds.first == 0.005)
        var snapshot = DataPlaneSnapshot()
        var histogram = DataPlaneSnapshot.Histogram()
        histogram.buckets[0] = 1
        for (nanos, text) in [(UInt64(1_500_000), "0.0015"), (2_000_000_000, "2"), (1, "0.000000001"), (10_000_000_010, "10.00000001")] {
            histogram.sumNanos = nanos
            snapshot.upstreamDurations[.noRoute] = histogram
            #expect(snapshot.prometheusText().contains("pier_http_upstream_duration_seconds_sum{route=\"-\",service=\"-\"} \(text)\n"))
        }
    }

    @Test("the parser rejects what Prometheus would", arguments: [
        "metric 1",  // no final line feed
        "9metric 1\n",
        "metric{a=\"x\\q\"} 1\n",  // unknown escape
        "metric{a=\"x\"\"} 1\n",
        "metric{a=\"x\",a=\"y\"} 1\n",
        "metric{0a=\"x\"} 1\n",
        "metric{a=\"x\"} one\n",
        "metric 1\nmetric 2\n",  // duplicate series
        "a 1\nb 1\na{x=\"1\"} 1\n",  // family split in two
        "metric 1\n# TYPE metric counter\n",  // TYPE after samples
        "# TYPE metric counter\n# TYPE metric counter\n",
        "# TYPE metric thing\n",
        "# HELP metric bad \\q escape\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",  // not cumulative
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",  // count ≠ +Inf
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n",  // no +Inf
        "# TYPE h histogram\nh 1\n",
    ])
    func parserRejects(text: String) {
        #expect(throws: PrometheusExposition.ParseError.self) { try PrometheusExposition(parsing: text) }
    }

    @Test("the parser accepts comments, blank lines, timestamps, special values and a trailing comma")
    func parserAccepts() throws {
        let parsed = try PrometheusExposition(parsing: "# a comment\n\n# HELP m help \\\\ and \\n\n# TYPE m gauge\nm{a=\"1\",} +Inf 1700000000000\nm{a=\"2\"} -1.5e3\n")
        #expect(parsed.family("m")?.help == "help \\ and \n")
        #expect(parsed.value("m", ["a": "1"]) == .infinity)
        #expect(parsed.value("m", ["a": "2"]) == -1500)
    }
}
