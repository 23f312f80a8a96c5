@testable import Admin
import LabelConfig
import Logging
import NIOPosix
import Prometheus
import Publishing
import RouteModel
import TestSupport
import Testing

/// `/metrics` as the admin server writes it: the publisher's swift-metrics in the Prometheus registry, then
/// the extra exposition (the data plane's families), parsed back with a strict text-format parser.
@Suite struct ExpositionTests {
    static func service(_ name: String, port: String) -> ServiceDescription {
        ServiceDescription(name: name, labels: ["com.docker.lb.hosts": "\(name).test", "com.docker.lb.port": port],
                           endpoints: [.init(host: "10.0.0.1", port: nil)])
    }

    @Test("generation, reload time, compile time, issues by severity, services by state, extra families")
    func registryMetrics() async throws {
        let registry = PrometheusCollectorRegistry()
        let publisher = Publisher(logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
                                  metrics: AdminMetrics.factory(registry: registry))
        publisher.publish(Build(inputs: BuildInputs(services: [Self.service("web", port: "80"), Self.service("api", port: "80x")])))
        publisher.publish(Build(inputs: BuildInputs(services: [Self.service("web", port: "81"), Self.service("api", port: "80x")])))
        var sources = AdminSources(role: .serve, version: "pier test", publisher: publisher)
        sources.registry = registry
        sources.extraExposition = { "# TYPE pier_http_requests_total counter\npier_http_requests_total{route=\"web.test/\"} 3\n" }
        let server = AdminServer(configuration: AdminConfiguration(host: "127.0.0.1", port: 0), sources: sources,
                                 group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
        let text = await server.metrics()
        let parsed = try PrometheusExposition(parsing: text)
        #expect(parsed.value("pier_route_table_generation") == 2, "\(text)")
        #expect(parsed.value("pier_route_issues", ["severity": "error"]) == 1)
        #expect(parsed.value("pier_route_issues", ["severity": "warning"]) == 0)
        #expect(parsed.value("pier_services", ["state": "routed"]) == 1)
        #expect(parsed.value("pier_services", ["state": "rejected"]) == 1)
        #expect(parsed.value("pier_route_table_compile_seconds_count") == 2)
        #expect(parsed.types["pier_route_table_compile_seconds"] == "histogram")
        let reloaded = try #require(parsed.value("pier_route_table_last_reload_timestamp_seconds"))
        #expect(abs(reloaded - (publisher.latest?.publishedAt ?? 0)) < 0.001)
        #expect(parsed.value("pier_ready") == 1)
        #expect(parsed.value("pier_http_requests_total", ["route": "web.test/"]) == 3)
        // Families of the two halves stay disjoint: each declared once (the parser throws otherwise).
        #expect(parsed.types.count == Set(parsed.types.keys).count)
    }

    @Test("the parser refuses what Prometheus would: a family declared twice, interleaved, a bad line")
    func parserIsStrict() {
        #expect(throws: PrometheusExposition.ParseError.self) { try PrometheusExposition(parsing: "# TYPE a gauge\na 1\n# TYPE a gauge\na 2\n") }
        #expect(throws: PrometheusExposition.ParseError.self) { try PrometheusExposition(parsing: "a 1\nb 1\na 2\n") }
        #expect(throws: PrometheusExposition.ParseError.self) { try PrometheusExposition(parsing: "a{x=1} 1\n") }
        #expect(throws: PrometheusExposition.ParseError.self) { try PrometheusExposition(parsing: "a one\n") }
        #expect((try? PrometheusExposition(parsing: "# HELP a A.\n# TYPE a counter\na{x=\"q\\\"\"} 1 1700000000000\n"))?.value("a", ["x": "q\""]) == 1)
    }
}
