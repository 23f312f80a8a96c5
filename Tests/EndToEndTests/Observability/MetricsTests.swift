import Foundation
import LabelConfig
import Logging
import NIOPosix
import ProxyCore
import RouteModel
import Testing
import TestSupport

extension EndToEnd {
    /// The data plane's metrics over loopback: a real `ProxyServer`, real backends, a known sequence of
    /// requests, then a snapshot rendered as Prometheus text and parsed back.
    @Suite(.serialized)
    struct MetricsTests {
    /// What the known sequence (a 200, an upstream 404, a 503 without route, one retry after a refused connect,
    /// a TLS handshake without certificate) leaves in the counters, however they were read.
    static func expectKnownSequence(_ metrics: PrometheusExposition, dead: Int) {
        func requests(_ route: String, _ service: String, _ code: String) -> Double? {
            metrics.value("pier_http_requests_total", ["entrypoint": "http", "route": route, "service": service, "method": "GET", "code": code])
        }
        #expect(requests("app.test/", "app", "2xx") == 1)
        #expect(requests("missing.test/", "missing", "4xx") == 1)
        #expect(requests("-", "-", "5xx") == 1)
        #expect(requests("flaky.test/", "flaky", "2xx") == 2)
        #expect(metrics.sum("pier_http_requests_total") == 5)
        #expect(metrics.value("pier_upstream_retries_total", ["service": "flaky"]) == 1)
        #expect(metrics.value("pier_upstream_connect_failures_total", ["service": "flaky", "reason": "refused"]) == 1)
        // Failures by cause: only the 503 is Pier's failure (the upstream's 404 is an answer, the retry succeeded).
        #expect(metrics.value("pier_http_failures_total", ["side": "router", "kind": "no_route"]) == 1)
        #expect(metrics.sum("pier_http_failures_total") == 1)
        #expect(metrics.value("pier_tls_handshakes_total", ["result": "no_certificate"]) == 1)
        // The dead endpoint is out of rotation (passive health).
        #expect(metrics.value("pier_endpoint_healthy", ["service": "flaky", "endpoint": "127.0.0.1:\(dead)"]) == 0)
    }

        @Test("a 200, an upstream 404, a 503 without route, a retry and a refused TLS handshake, counted exactly")
        func knownSequence() async throws {
            let app = try await TestBackend.start("app")
            let missing = try await TestBackend.start("missing", status: .notFound)
            let dead = try await refusedPort()
            let pier = try await InProcessPier.start([
                service("app", ["hosts": "app.test"], [app]),
                service("missing", ["hosts": "missing.test"], [missing]),
                ServiceDescription(name: "flaky", labels: ["com.docker.lb.hosts": "flaky.test"],
                                   endpoints: [.init(host: "127.0.0.1", port: dead), .init(host: "127.0.0.1", port: app.port)]),
            ], https: true, threads: 1)
            #expect(try await request(pier, host: "app.test", "/").status == 200)
            #expect(try await request(pier, host: "missing.test", "/x").status == 404)
            #expect(try await request(pier, host: "nowhere.test", "/").status == 503)
            // One loop, round robin over a dead and a live endpoint: one of the two requests tries the dead one
            // first and is retried on the other (which passive health then keeps the next one on).
            #expect(try await request(pier, host: "flaky.test", "/").status == 200)
            #expect(try await request(pier, host: "flaky.test", "/").status == 200)
            // No certificate for any name: the handshake is refused with an alert.
            let alert = try rawExchange(port: pier.httpsPort!, bytes: clientHelloBytes(serverName: "unknown.test"))
            #expect(alert.first == 0x15)

            let text = await pier.server.metricsSnapshot().prometheusText()
            let metrics = try PrometheusExposition(parsing: text)
            Self.expectKnownSequence(metrics, dead: dead)
            #expect(metrics.sum("pier_upstream_retries_total") == 1)
            #expect(metrics.sum("pier_upstream_connect_failures_total") == 1)
            #expect(metrics.sum("pier_upstream_retry_budget_refused_total") == 0)
            #expect(metrics.sum("pier_tls_handshakes_total") == 1, "\(text)")
            let appLabels = ["entrypoint": "http", "route": "app.test/", "service": "app"]
            #expect(metrics.value("pier_http_request_duration_seconds_count", appLabels) == 1)
            #expect(metrics.value("pier_http_request_duration_seconds_count", ["entrypoint": "http", "route": "-", "service": "-"]) == 1)
            // Upstream latency: one per response head, so the 503 (no upstream) has none.
            #expect(metrics.value("pier_http_upstream_duration_seconds_count", ["route": "flaky.test/", "service": "flaky"]) == 2)
            #expect(metrics.value("pier_http_upstream_duration_seconds_count", ["route": "-", "service": "-"]) == nil)
            // The live endpoints are in rotation.
            #expect(metrics.value("pier_endpoint_healthy", ["service": "flaky", "endpoint": "127.0.0.1:\(app.port)"]) == 1)
            #expect(metrics.value("pier_endpoint_healthy", ["service": "app", "endpoint": "127.0.0.1:\(app.port)"]) == 1)
            #expect(metrics.value("pier_data_plane_generation") == Double(pier.tables.current.generation))
            #expect((metrics.value("pier_downstream_connections", ["entrypoint": "http"]) ?? 0) >= 1)
            #expect((metrics.value("pier_upstream_connections", ["service": "app"]) ?? 0) >= 1)
            await pier.stop()
            await app.stop()
            await missing.stop()
        }

        @Test("a reload keeps the counts of a route that stays and drops a route that left")
        func reload() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([
                service("app", ["hosts": "app.test"], [app]), service("old", ["hosts": "old.test"], [app]),
            ], threads: 1)
            #expect(try await request(pier, host: "app.test", "/").status == 200)
            #expect(try await request(pier, host: "old.test", "/").status == 200)
            pier.publish([service("app", ["hosts": "app.test"], [app]), service("new", ["hosts": "new.test"], [app])])
            #expect(try await request(pier, host: "app.test", "/").status == 200)
            let text = await pier.server.metricsSnapshot().prometheusText()
            let metrics = try PrometheusExposition(parsing: text)
            #expect(metrics.sum("pier_http_requests_total", matching: ["route": "app.test/"]) == 2)
            #expect(metrics.sum("pier_http_requests_total", matching: ["route": "old.test/"]) == 0)
            #expect(metrics.sum("pier_http_requests_total") == 2)
            await pier.stop()
            await app.stop()
        }

        @Test("metrics off: requests are served and nothing is counted")
        func off() async throws {
            let app = try await TestBackend.start("app")
            let table = RouteTableBuilder(settings: ProxySettings(accessLog: false)).build([service("app", ["hosts": "app.test"], [app])]).table
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let server = ProxyServer(configuration: .init(host: "127.0.0.1", port: 0, metrics: false), group: group,
                                     tables: RouteTableBox(table), logger: Logger(label: "pier-test"))
            let port = try await server.start().port!
            let reply = try rawExchange(port: port, "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
            #expect(reply.hasPrefix("HTTP/1.1 200 "))
            let snapshot = await server.metricsSnapshot()
            #expect(snapshot.requests.isEmpty && snapshot.requestDurations.isEmpty && snapshot.services.isEmpty)
            #expect(snapshot.downstreamOpened.values.allSatisfy { $0 == 0 })
            #expect(snapshot.endpointHealthy == [.init(service: "app", endpoint: "127.0.0.1:\(app.port)"): true])
            await server.drain()
            try await group.shutdownGracefully()
            await app.stop()
        }
    }
}

extension EndToEnd {
    /// The same known sequence against a real `pier serve`, scraped over HTTP from its admin entrypoint's
    /// `/metrics` as Prometheus would.
    @Suite struct ScrapedMetricsTests {
        @Test("a real pier serve: 200, upstream 404, 503 without route, a retry and a refused TLS handshake, scraped from /metrics")
        func scrapedFromTheAdminEntrypoint() async throws {
            let app = try await TestBackend.start("app")
            let missing = try await TestBackend.start("missing", status: .notFound)
            let dead = try await refusedPort()
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = directory.appendingPathComponent("pier.toml").path
            try """
            [Entrypoints]
            HTTP = "127.0.0.1:0"
            HTTPS = "127.0.0.1:0"

            [Config]
            AccessLog = false

            [[Services]]
            Name = "app"
            Endpoints = ["127.0.0.1:\(app.port)"]
            [Services.Labels]
            "com.docker.lb.hosts" = "app.test"

            [[Services]]
            Name = "missing"
            Endpoints = ["127.0.0.1:\(missing.port)"]
            [Services.Labels]
            "com.docker.lb.hosts" = "missing.test"

            [[Services]]
            Name = "flaky"
            Endpoints = ["127.0.0.1:\(dead)", "127.0.0.1:\(app.port)"]
            [Services.Labels]
            "com.docker.lb.hosts" = "flaky.test"
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let pier = try PierProcess(["serve", "-c", file, "--admin", "127.0.0.1:0", "--threads", "1"])
            defer { _ = pier.terminate() }
            let port = try await pier.waitForPort()
            let admin = try await pier.waitForAddress(of: "admin listening")
            // Both entrypoints log "entrypoint listening"; the HTTPS one may come second.
            #expect(await becomesTrue(10) { (try? await pier.waitForPort()) != nil && pier.httpsPort != 0 })
            let httpsPort = pier.httpsPort
            func status(_ host: String, _ path: String = "/") throws -> Int {
                Int(try run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: \(host)",
                                              "http://127.0.0.1:\(port)\(path)"]).out) ?? 0
            }
            #expect(try status("app.test") == 200)
            #expect(try status("missing.test", "/x") == 404)
            #expect(try status("nowhere.test") == 503)
            // Round robin over a dead and a live endpoint: one of the two requests is retried on the live one.
            #expect(try status("flaky.test") == 200)
            #expect(try status("flaky.test") == 200)
            // No certificate for any name: the handshake is refused with an alert.
            let alert = try rawExchange(port: httpsPort, bytes: clientHelloBytes(serverName: "unknown.test"))
            #expect(alert.first == 0x15)

            let scraped = try run("/usr/bin/curl", ["-s", "-D", "-", "http://127.0.0.1:\(admin)/metrics"]).out
            let parts = scraped.components(separatedBy: "\r\n\r\n")
            #expect(parts[0].lowercased().contains("content-type: text/plain; version=0.0.4"), "\(parts[0])")
            let metrics = try PrometheusExposition(parsing: parts.dropFirst().joined(separator: "\r\n\r\n"))
            MetricsTests.expectKnownSequence(metrics, dead: dead)
            // The control-plane families from swift-metrics share the scrape.
            #expect(metrics.value("pier_route_table_generation") == 1)
            #expect(pier.terminate() == 0)
            await app.stop()
            await missing.stop()
        }
    }
}
