import CoreMetrics
import Prometheus

/// The swift-metrics backend of a Pier process: a Prometheus registry, which `/metrics` writes out.
public enum AdminMetrics {
    /// A factory writing into `registry`. Route table compiles take micro- to milliseconds, far below
    /// swift-prometheus's default request-latency buckets, so their timer gets its own.
    public static func factory(registry: PrometheusCollectorRegistry) -> any MetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["pier_route_table_compile_seconds"] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
        ]
        return factory
    }
}
