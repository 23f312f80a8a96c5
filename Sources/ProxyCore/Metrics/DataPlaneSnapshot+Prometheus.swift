import RouteModel
/// The Prometheus text exposition format (version 0.0.4) of a snapshot: pure, deterministic (families in a
/// fixed order, series sorted by labels), zero counters left out. Family names start with `pier_` and differ
/// from those of the control plane's registry, so that `/metrics` can write both into one body.
extension DataPlaneSnapshot {
    /// The snapshot as Prometheus text (`text/plain; version=0.0.4`), every line ending in `\n`.
    public func prometheusText() -> String {
        var out = PrometheusWriter()
        let requestKeys = requests.keys.sorted { ($0.labels, $0.entrypoint, $0.method, $0.code) < ($1.labels, $1.entrypoint, $1.method, $1.code) }
        out.family("pier_http_requests_total", .counter, "HTTP requests by route, entrypoint, method class and status class.")
        for key in requestKeys {
            out.sample("pier_http_requests_total", [("entrypoint", key.entrypoint), ("route", key.labels.route), ("service", key.labels.service),
                                                    ("method", key.method), ("code", key.code)], requests[key]!)
        }
        out.family("pier_http_request_duration_seconds", .histogram, "Time from a request's head to the end of its exchange.")
        for key in requestDurations.keys.sorted(by: { ($0.labels, $0.entrypoint) < ($1.labels, $1.entrypoint) }) {
            out.histogram("pier_http_request_duration_seconds", [("entrypoint", key.entrypoint), ("route", key.labels.route),
                                                                ("service", key.labels.service)], requestDurations[key]!)
        }
        out.family("pier_http_upstream_duration_seconds", .histogram, "Time from sending a request upstream to its response head.")
        for labels in upstreamDurations.keys.sorted() {
            out.histogram("pier_http_upstream_duration_seconds", [("route", labels.route), ("service", labels.service)], upstreamDurations[labels]!)
        }
        let serviceNames = services.keys.sorted()
        out.family("pier_upstream_connect_failures_total", .counter, "Upstream connections that could not be opened, by reason.")
        for name in serviceNames {
            let counters = services[name]!
            out.sample("pier_upstream_connect_failures_total", [("service", name), ("reason", "refused")], counters.connectRefused, skipZero: true)
            out.sample("pier_upstream_connect_failures_total", [("service", name), ("reason", "timeout")], counters.connectTimedOut, skipZero: true)
        }
        out.serviceCounter("pier_upstream_retries_total", "Requests retried on another endpoint.", serviceNames, services, \.retries)
        out.serviceCounter("pier_upstream_retry_budget_refused_total", "Retries the retry budget refused.", serviceNames, services, \.retryBudgetRefused)
        out.family("pier_downstream_connections", .gauge, "Open client connections by entrypoint.")
        for entrypoint in MetricClasses.entrypoints where downstreamOpened[entrypoint, default: 0] > 0 {
            out.sample("pier_downstream_connections", [("entrypoint", entrypoint)], downstreamConnections(entrypoint))
        }
        out.family("pier_upstream_connections", .gauge, "Open HTTP/1.1 connections to endpoints, by service.")
        for name in serviceNames where services[name]!.upstreamOpened > 0 {
            out.sample("pier_upstream_connections", [("service", name)], services[name]!.upstreamConnections)
        }
        out.family("pier_tls_handshakes_total", .counter, "TLS handshakes on the HTTPS entrypoint by result.")
        for result in TLSResult.allCases {
            out.sample("pier_tls_handshakes_total", [("result", result.rawValue)], tlsHandshakes[result] ?? 0, skipZero: true)
        }
        out.family("pier_http_failures_total", .counter, "Requests that ended in a failure, by the side that failed and the failure's kind.")
        for kind in FailureCause.Kind.allCases {
            out.sample("pier_http_failures_total", [("side", kind.side.rawValue), ("kind", kind.rawValue)], failures[kind] ?? 0, skipZero: true)
        }
        out.family("pier_http2_streams", .gauge, "Open HTTP/2 streams.")
        out.sample("pier_http2_streams", [], http2StreamsOpened &- http2StreamsClosed)
        out.family("pier_http2_streams_total", .counter, "HTTP/2 streams opened.")
        out.sample("pier_http2_streams_total", [], http2StreamsOpened)
        out.family("pier_tunnels", .gauge, "Open WebSocket tunnels and TLS passthrough relays, by service.")
        out.tunnels(serviceNames, services, total: false)
        out.family("pier_tunnels_total", .counter, "WebSocket tunnels and TLS passthrough relays opened, by service.")
        out.tunnels(serviceNames, services, total: true)
        out.family("pier_endpoint_healthy", .gauge, "1 when the endpoint takes requests, 0 when health checks took it out of rotation.")
        for key in endpointHealthy.keys.sorted() {
            out.sample("pier_endpoint_healthy", [("service", key.service), ("endpoint", key.endpoint)], endpointHealthy[key]! ? 1 : 0)
        }
        out.family("pier_data_plane_generation", .gauge, "Generation of the route table the data plane serves.")
        out.sample("pier_data_plane_generation", [], routeTableGeneration)
        return out.text
    }
}

/// Writes families and samples in the text format.
struct PrometheusWriter {
    enum Kind: String { case counter, gauge, histogram }

    /// `le` of each bucket, as Prometheus' own clients print them.
    static let bucketBounds = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]

    var text = ""

    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) \(Self.escape(help, quotes: false))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: UInt64, skipZero: Bool = false) {
        if skipZero, value == 0 { return }
        sample(name, labels, String(value))
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + value + "\n"
    }

    /// Cumulative buckets, then `_sum` (seconds) and `_count`.
    mutating func histogram(_ name: String, _ labels: [(String, String)], _ histogram: DataPlaneSnapshot.Histogram) {
        var cumulative: UInt64 = 0
        for (i, count) in histogram.buckets.enumerated() {
            cumulative &+= count
            sample(name + "_bucket", labels + [("le", Self.bucketBounds[i])], cumulative)
        }
        sample(name + "_sum", labels, Self.seconds(histogram.sumNanos))
        sample(name + "_count", labels, cumulative)
    }

    mutating func serviceCounter(_ name: String, _ help: String, _ names: [String], _ services: [String: DataPlaneSnapshot.ServiceCounters],
                                 _ counter: KeyPath<DataPlaneSnapshot.ServiceCounters, UInt64>) {
        family(name, .counter, help)
        for service in names { sample(name, [("service", service)], services[service]![keyPath: counter], skipZero: true) }
    }

    mutating func tunnels(_ names: [String], _ services: [String: DataPlaneSnapshot.ServiceCounters], total: Bool) {
        let name = total ? "pier_tunnels_total" : "pier_tunnels"
        for service in names {
            let c = services[service]!
            if c.webSocketOpened > 0 {
                sample(name, [("kind", "websocket"), ("service", service)], total ? c.webSocketOpened : c.webSocketTunnels)
            }
            if c.passthroughOpened > 0 {
                sample(name, [("kind", "passthrough"), ("service", service)], total ? c.passthroughOpened : c.passthroughTunnels)
            }
        }
    }

    /// Nanoseconds as decimal seconds, exactly (no floating-point rounding): `1500000` → `0.0015`.
    static func seconds(_ nanos: UInt64) -> String {
        let whole = nanos / 1_000_000_000
        var fraction = String(nanos % 1_000_000_000)
        guard fraction != "0" else { return String(whole) }
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }

    /// Label values escape `\`, `"` and line feeds; HELP text (`quotes` false) only `\` and line feeds.
    static func escape(_ value: String, quotes: Bool = true) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\n" || (quotes && $0 == "\"") }) else { return value }
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"" where quotes: out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
