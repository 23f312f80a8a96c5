import NIOCore
import NIOHTTP1
import NIOPosix
import RouteModel

/// Keep-alive upstream connections of one event loop, by endpoint. A request takes the most recently used
/// idle connection (warmest, least likely to have been closed by the upstream) or connects a new one.
///
/// Owned by one event loop; not thread-safe by design.
final class UpstreamConnectionPool {
    let eventLoop: EventLoop
    private var idle: [Endpoint: [UpstreamConnection]] = [:]
    private var addresses: [Endpoint: SocketAddress] = [:]
    /// Connections opened so far (for tests and metrics).
    private(set) var connectionsOpened = 0

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    /// An idle connection to `endpoint`, if one is pooled and still open.
    func takeIdle(_ endpoint: Endpoint) -> UpstreamConnection? {
        while var list = idle[endpoint], let connection = list.popLast() {
            idle[endpoint] = list.isEmpty ? nil : list
            if !connection.isClosed, connection.channel.isActive { return connection }
        }
        return nil
    }

    /// Puts `connection` back for reuse, or closes it when the endpoint already has `maxIdle` idle ones.
    func release(_ connection: UpstreamConnection, maxIdle: Int, idleTimeout: Duration) {
        connection.delegate = nil
        connection.readsPaused = false
        guard !connection.isClosed, connection.channel.isActive else { return }
        var list = idle[connection.endpoint] ?? []
        guard list.count < maxIdle else {
            connection.close()
            return
        }
        connection.idleSince = .now()
        list.append(connection)
        idle[connection.endpoint] = list
        armSweep(idleTimeout: TimeAmount(idleTimeout))
    }

    /// One sweep timer per pool closes connections idle past the timeout: releasing a connection after
    /// every request must not schedule a timer every time.
    private var sweep: Scheduled<Void>?

    private func armSweep(idleTimeout: TimeAmount) {
        guard sweep == nil else { return }
        // Captures are strong: the pool lives as long as its event loop.
        sweep = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(max(idleTimeout.nanoseconds / 2, 100_000_000))) { [self] in
            sweep = nil
            let now = NIODeadline.now()
            var remaining = false
            for (endpoint, list) in idle {
                var kept: [UpstreamConnection] = []
                for connection in list {
                    if now - connection.idleSince >= idleTimeout || connection.isClosed {
                        connection.close()
                    } else {
                        kept.append(connection)
                    }
                }
                idle[endpoint] = kept.isEmpty ? nil : kept
                remaining = remaining || !kept.isEmpty
            }
            if remaining { armSweep(idleTimeout: idleTimeout) }
        }
    }

    private func remove(_ connection: UpstreamConnection) {
        guard var list = idle[connection.endpoint], let i = list.firstIndex(where: { $0 === connection }) else { return }
        list.remove(at: i)
        idle[connection.endpoint] = list.isEmpty ? nil : list
    }

    /// Opens a new connection to `endpoint` on this loop.
    func connect(_ endpoint: Endpoint, timeout: Duration) -> EventLoopFuture<UpstreamConnection> {
        connectionsOpened += 1
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.init(timeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .dropBytes, enableOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler())
                }
            }
        let future: EventLoopFuture<Channel>
        if let address = addresses[endpoint] {
            future = bootstrap.connect(to: address)
        } else if let address = try? SocketAddress(ipAddress: endpoint.host, port: endpoint.port) {
            addresses[endpoint] = address
            future = bootstrap.connect(to: address)
        } else {
            future = bootstrap.connect(host: endpoint.host, port: endpoint.port)
        }
        return future.assumeIsolated().flatMapThrowing { channel in
            let connection = UpstreamConnection(channel: channel, endpoint: endpoint)
            let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
            handler.connection = connection
            connection.setOnClose { [self] closed in remove(closed) }
            return connection
        }.nonisolated()
    }
}
