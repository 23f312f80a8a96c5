import NIOCore

/// `HTTPProxyHandler`'s counting into its loop's `LoopMetrics` (nothing when metrics are off). Same event loop.
extension HTTPProxyHandler {
    /// Counts a finished exchange under the route it matched, and forgets that route.
    func countEnded(_ exchange: HTTPExchange) {
        let route = matchedRoute
        matchedRoute = -1
        let nanos = NIODeadline.now().uptimeNanoseconds &- exchange.startNanos
        if let cause = exchange.cause { loop.metrics?.failed(cause) }
        loop.metrics?.requestEnded(route: route, table: exchange.table, entrypoint: MetricClasses.entrypoint(downstream.scheme),
                                   method: MetricClasses.method(exchange.method), status: MetricClasses.status(exchange.status),
                                   nanos: nanos)
    }

    /// The upstream's response head arrived at `now`: the time since the request went upstream.
    func countUpstreamResponse(_ exchange: HTTPExchange, now: NIODeadline) {
        guard loop.metrics != nil, exchange.upstreamSentNanos > 0 else { return }
        loop.metrics!.upstreamResponded(route: matchedRoute, table: exchange.table, nanos: now.uptimeNanoseconds &- exchange.upstreamSentNanos)
    }
}
