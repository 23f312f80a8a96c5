import RouteModel
/// Summing the loops' counters at scrape time, off the event loops.
extension DataPlaneSnapshot {
    /// Adds one loop's counters (a copy taken on its loop).
    mutating func add(_ loop: LoopMetrics) {
        let classes = MetricClasses.self
        for (index, number) in loop.blocks.enumerated() where number >= 0 {
            let labels = loop.labels[index]
            let base = Int(number) * LoopMetrics.blockSize
            for entrypoint in 0..<LoopMetrics.entrypoints {
                for method in 0..<LoopMetrics.methods {
                    for status in 0..<LoopMetrics.statuses {
                        let count = loop.cells[base + (entrypoint * LoopMetrics.methods + method) * LoopMetrics.statuses + status]
                        guard count > 0 else { continue }
                        let key = RequestKey(labels: labels, entrypoint: classes.entrypoints[entrypoint],
                                             method: classes.methods[method], code: classes.statuses[status])
                        requests[key, default: 0] &+= count
                    }
                }
                let histogram = base + LoopMetrics.codeCells + entrypoint * LoopMetrics.histogramCells
                Self.add(loop.cells, at: histogram, to: &requestDurations[DurationKey(labels: labels, entrypoint: classes.entrypoints[entrypoint])])
            }
            Self.add(loop.cells, at: base + LoopMetrics.codeCells + LoopMetrics.entrypoints * LoopMetrics.histogramCells,
                     to: &upstreamDurations[labels])
        }
        for (service, counters) in loop.services { services[service, default: .init()].add(counters) }
        for (i, result) in TLSResult.allCases.enumerated() where loop.tlsHandshakes[i] > 0 {
            tlsHandshakes[result, default: 0] &+= loop.tlsHandshakes[i]
        }
        for (i, entrypoint) in classes.entrypoints.enumerated() {
            downstreamOpened[entrypoint, default: 0] &+= loop.downstreamOpened[i]
            downstreamClosed[entrypoint, default: 0] &+= loop.downstreamClosed[i]
        }
        for (i, kind) in FailureCause.Kind.allCases.enumerated() where loop.failures[i] > 0 {
            failures[kind, default: 0] &+= loop.failures[i]
        }
        http2StreamsOpened &+= loop.http2StreamsOpened
        http2StreamsClosed &+= loop.http2StreamsClosed
    }

    /// Adds the histogram stored at `offset` of `cells` to `histogram`, unless it is empty.
    private static func add(_ cells: [UInt64], at offset: Int, to histogram: inout Histogram?) {
        let buckets = cells[offset..<offset + MetricClasses.bucketCount]
        guard buckets.contains(where: { $0 > 0 }) else { return }
        var sum = histogram ?? Histogram()
        for (i, count) in buckets.enumerated() { sum.buckets[i] &+= count }
        sum.sumNanos &+= cells[offset + MetricClasses.bucketCount]
        histogram = sum
    }
}
