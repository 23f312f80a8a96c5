import NIOCore
import RouteModel

extension ProxyServer {
    /// The data plane's counters summed over every event loop, with the health of the current table's
    /// endpoints and its generation. Each loop hands over a copy of its counters (copy-on-write: O(1) on the
    /// loop; its next increment copies the arrays once); the sum is made here, off the loops.
    public func metricsSnapshot() async -> DataPlaneSnapshot {
        let table = tables.current
        var snapshot = DataPlaneSnapshot()
        snapshot.routeTableGeneration = table.generation
        let now = NIODeadline.now().uptimeNanoseconds
        var outOfRotation: Set<Endpoint> = []
        let endpoints = Set(table.pools.lazy.flatMap(\.endpoints))
        for loop in loops.values {
            let taken = try? await loop.eventLoop.submit { () -> (LoopMetrics?, [Endpoint]) in
                (loop.metrics, endpoints.filter { loop.isOutOfRotation($0, now: now) })
            }.get()
            guard let taken else { continue }
            let (metrics, down) = taken
            if let metrics { snapshot.add(metrics) }
            outOfRotation.formUnion(down)
        }
        for pool in table.pools {
            let service = LoopMetrics.service(of: pool)
            for endpoint in pool.endpoints {
                snapshot.endpointHealthy[.init(service: service, endpoint: "\(endpoint)")] = !outOfRotation.contains(endpoint)
                snapshot.endpointInRotation[endpoint] = !outOfRotation.contains(endpoint)
            }
        }
        return snapshot
    }
}
