import NIOCore
import RouteModel

/// Hooks of the data plane into this loop's `LoopMetrics`, for events that span a channel's life: each counts
/// the open now and the close when the channel closes (on the same loop). Nothing happens when metrics are off.
extension LoopState {
    /// A client connection on the `scheme` entrypoint.
    func countDownstream(_ channel: Channel, scheme: Scheme) {
        guard metrics != nil else { return }
        let entrypoint = MetricClasses.entrypoint(scheme)
        metrics!.downstreamOpened[entrypoint] &+= 1
        channel.closeFuture.assumeIsolated().whenComplete { [self] _ in metrics?.downstreamClosed[entrypoint] &+= 1 }
    }

    /// An HTTP/2 stream of a client connection.
    func countHTTP2Stream(_ channel: Channel) {
        guard metrics != nil else { return }
        metrics!.http2StreamsOpened &+= 1
        channel.closeFuture.assumeIsolated().whenComplete { [self] _ in metrics?.http2StreamsClosed &+= 1 }
    }

    /// A connection to an endpoint of `pool` (`opened`, `closed`: the service counters it moves).
    func countUpstream(_ channel: Channel, of pool: BackendPool, opened: WritableKeyPath<DataPlaneSnapshot.ServiceCounters, UInt64>,
                       closed: WritableKeyPath<DataPlaneSnapshot.ServiceCounters, UInt64>) {
        guard metrics != nil else { return }
        metrics!.count(pool, opened)
        let service = LoopMetrics.service(of: pool)
        channel.closeFuture.assumeIsolated().whenComplete { [self] _ in metrics?.countClose(service, opened: opened, closed: closed) }
    }

    /// A connection attempt to an endpoint of `pool` failed.
    func countConnectFailure(_ pool: BackendPool, error: Error) {
        guard metrics != nil else { return }
        if case ChannelError.connectTimeout = error { metrics!.count(pool, \.connectTimedOut) } else { metrics!.count(pool, \.connectRefused) }
    }
}
