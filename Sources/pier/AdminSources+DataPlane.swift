import Admin
import ProxyCore
import RouteModel

extension AdminSources {
    /// Feeds the admin entrypoint from `server`'s per-loop counters: its Prometheus families on `/metrics`, the
    /// dashboard's traffic and endpoint health on `/api/status` (health and the HTTPS port on `/api/explain`). Each
    /// call takes one snapshot (summed at the scrape, off the data plane's loops).
    mutating func observe(_ server: ProxyServer) {
        extraExposition = { await server.metricsSnapshot().prometheusText() }
        traffic = { Self.traffic(await server.metricsSnapshot()) }
        endpointHealth = { await server.metricsSnapshot().endpointInRotation }
        httpsPort = { server.httpsAddress?.port }
    }

    /// The dashboard's counters: requests and 5xx answers, per route and in all, and failures by cause.
    static func traffic(_ snapshot: DataPlaneSnapshot) -> StatusDocument.Traffic {
        var byRoute: [DataPlaneSnapshot.RouteLabels: (requests: UInt64, errors: UInt64)] = [:]
        for (key, count) in snapshot.requests {
            byRoute[key.labels, default: (0, 0)].requests &+= count
            if key.code == "5xx" { byRoute[key.labels, default: (0, 0)].errors &+= count }
        }
        let routes = byRoute.sorted { $0.key < $1.key }.map {
            StatusDocument.Traffic.RouteTraffic(route: $0.key.route, service: $0.key.service, requests: $0.value.requests, errors: $0.value.errors)
        }
        let failures = snapshot.failures.sorted { $0.key.rawValue < $1.key.rawValue }.map { kind, count in
            StatusDocument.Traffic.Failure(side: kind.side.rawValue, kind: kind.rawValue, summary: kind.summary, count: count)
        }
        return StatusDocument.Traffic(requests: routes.reduce(0) { $0 &+ $1.requests }, errors: routes.reduce(0) { $0 &+ $1.errors },
                                      routes: routes, failures: failures)
    }
}
