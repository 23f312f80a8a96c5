import NIOCore
import NIOHTTP1
import NIOHTTP2
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
    /// An HTTP/2 stream is never reused: it is closed (its connection stays for the next stream).
    func release(_ connection: UpstreamConnection, maxIdle: Int, idleTimeout: Duration) {
        connection.delegate = nil
        connection.readsPaused = false
        guard !connection.isClosed, connection.channel.isActive else { return }
        if connection.isStream {
            connection.close()
            return
        }
        var list = idle[connection.endpoint] ?? []
        guard list.count < maxIdle else {
            connection.close()
            return
        }
        connection.idleSince = .now()
        connection.idleTimeout = TimeAmount(idleTimeout)
        list.append(connection)
        idle[connection.endpoint] = list
        armSweep(idleTimeout: connection.idleTimeout)
    }

    /// One sweep timer per pool closes connections idle past the timeout: releasing a connection after
    /// every request must not schedule a timer every time.
    private var sweep: Scheduled<Void>?
    private var sweepDeadline: NIODeadline?

    /// Makes sure a sweep runs within half of `idleTimeout` (each connection keeps its own service's timeout).
    private func armSweep(idleTimeout: TimeAmount) {
        let deadline = NIODeadline.now() + .nanoseconds(max(idleTimeout.nanoseconds / 2, 100_000_000))
        if let sweepDeadline, sweepDeadline <= deadline { return }
        sweep?.cancel()
        sweepDeadline = deadline
        // Captures are strong: the pool lives as long as its event loop.
        sweep = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            sweep = nil
            sweepDeadline = nil
            let now = NIODeadline.now()
            var shortest: TimeAmount?
            for (endpoint, list) in idle {
                var kept: [UpstreamConnection] = []
                for connection in list {
                    if now - connection.idleSince >= connection.idleTimeout || connection.isClosed {
                        connection.close()
                    } else {
                        kept.append(connection)
                        shortest = min(shortest ?? connection.idleTimeout, connection.idleTimeout)
                    }
                }
                idle[endpoint] = kept.isEmpty ? nil : kept
            }
            if let shortest { armSweep(idleTimeout: shortest) }
        }
    }

    private func remove(_ connection: UpstreamConnection) {
        guard var list = idle[connection.endpoint], let i = list.firstIndex(where: { $0 === connection }) else { return }
        list.remove(at: i)
        idle[connection.endpoint] = list.isEmpty ? nil : list
    }

    /// A new exchange's upstream: a new HTTP/1.1 connection, or a new stream on this loop's HTTP/2 connection
    /// to the endpoint (opened first if there is none).
    func connect(_ endpoint: Endpoint, protocol upstreamProtocol: UpstreamProtocol, timeout: Duration) -> EventLoopFuture<UpstreamConnection> {
        switch upstreamProtocol {
        case .http1: return connect(endpoint, timeout: timeout)
        case .h2c: return openStream(endpoint, timeout: timeout)
        }
    }

    /// HTTP/2 connections by endpoint: each carries the streams of every exchange of this loop.
    private var sessions: [Endpoint: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>] = [:]

    private func openStream(_ endpoint: Endpoint, timeout: Duration) -> EventLoopFuture<UpstreamConnection> {
        let session: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>
        if let existing = sessions[endpoint] {
            session = existing
        } else {
            connectionsOpened += 1
            session = ClientBootstrap(group: eventLoop)
                .connectTimeout(.init(timeout))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connect(host: endpoint.host, port: endpoint.port)
                .assumeIsolated().flatMapThrowing { [self] channel in
                    // Prior knowledge (h2c): the client preface goes out at once; no upgrade dance.
                    let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
                    ) { stream in stream.eventLoop.makeSucceededVoidFuture() }
                    channel.closeFuture.assumeIsolated().whenComplete { [self] _ in sessions[endpoint] = nil }
                    return multiplexer
                }.nonisolated()
            sessions[endpoint] = session
            session.assumeIsolated().whenFailure { [self] _ in sessions[endpoint] = nil }
        }
        return session.assumeIsolated().flatMap { multiplexer in
            let promise = self.eventLoop.makePromise(of: Channel.self)
            multiplexer.createStreamChannel(promise: promise) { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .http))
                    try stream.pipeline.syncOperations.addHandler(UpstreamHandler())
                }
            }
            return promise.futureResult
        }.flatMapThrowing { stream in
            let connection = UpstreamConnection(channel: stream, endpoint: endpoint, isStream: true)
            try stream.pipeline.syncOperations.handler(type: UpstreamHandler.self).connection = connection
            return connection
        }.nonisolated()
    }

    /// Opens a new HTTP/1.1 connection to `endpoint` on this loop.
    func connect(_ endpoint: Endpoint, timeout: Duration) -> EventLoopFuture<UpstreamConnection> {
        connectionsOpened += 1
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.init(timeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // `.forwardBytes`: after a 101 the bytes behind the head belong to the WebSocket tunnel.
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .forwardBytes, enableOutboundHeaderValidation: false)
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
