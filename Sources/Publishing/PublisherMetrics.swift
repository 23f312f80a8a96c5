import CoreMetrics
import LabelConfig
import RouteModel

/// The control plane's metrics, through an injected swift-metrics factory: what every build found (issues by
/// severity, services by state, compile time) and what was made live (generation, time of the last reload).
/// Written under the publisher's lock, once per build: never on the request path.
struct PublisherMetrics: Sendable {
    private let generation: Gauge
    private let lastReload: Gauge
    private let compile: CoreMetrics.Timer
    private let issues: [RouteIssue.Severity: Gauge]
    private let services: [String: Gauge]

    /// The service states counted in `pier_services`, with the label value of each.
    static let states = ["routed", "rejected", "other_cluster", "inactive", "ignored"]

    init(factory: any MetricsFactory) {
        generation = Gauge(label: "pier_route_table_generation", factory: factory)
        lastReload = Gauge(label: "pier_route_table_last_reload_timestamp_seconds", factory: factory)
        compile = CoreMetrics.Timer(label: "pier_route_table_compile_seconds", factory: factory)
        var issues: [RouteIssue.Severity: Gauge] = [:]
        for severity in [RouteIssue.Severity.error, .warning] {
            issues[severity] = Gauge(label: "pier_route_issues", dimensions: [("severity", severity.rawValue)], factory: factory)
        }
        self.issues = issues
        var services: [String: Gauge] = [:]
        for state in Self.states {
            services[state] = Gauge(label: "pier_services", dimensions: [("state", state)], factory: factory)
        }
        self.services = services
    }

    /// Every build, published or not: an unchanged table may come with other issues or statuses.
    func record(_ build: Build) {
        if let duration = build.compileDuration {
            let (seconds, attoseconds) = duration.components
            compile.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
        for (severity, gauge) in issues {
            gauge.record(build.result.issues.count { $0.severity == severity })
        }
        var counts = Dictionary(uniqueKeysWithValues: Self.states.map { ($0, 0) })
        for status in build.result.statuses { counts[Self.label(status.state), default: 0] += 1 }
        for (state, gauge) in services { gauge.record(counts[state] ?? 0) }
    }

    /// A new generation made live.
    func published(_ publication: Publication) {
        generation.record(Int64(publication.generation))
        lastReload.record(publication.publishedAt)
    }

    static func label(_ state: ServiceStatus.State) -> String {
        switch state {
        case .routed: "routed"
        case .rejected: "rejected"
        case .otherCluster: "other_cluster"
        case .inactive: "inactive"
        case .ignored: "ignored"
        }
    }
}
