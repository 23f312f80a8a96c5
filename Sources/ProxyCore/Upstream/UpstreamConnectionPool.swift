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
    /// Idle connections by endpoint, most recently used last. A class per endpoint, so that taking and
    /// returning a connection edits the list in place after one lookup.
    private var idle: [Endpoint: IdleList] = [:]

    private final class IdleList {
        var connections: [UpstreamConnection] = []
    }
    /// Parsed socket addresses of the endpoints connected to, trimmed to the current table's endpoints by
    /// `retainAddresses(of:)`: on a Swarm every deploy brings tasks with new addresses.
    private(set) var addresses: [Endpoint: SocketAddress] = [:]
    /// Connections opened so far (for tests and metrics).
    private(set) var connectionsOpened = 0
    /// HTTP/1.1 connections open or opening, by endpoint (idle pooled ones included): what
    /// `ServiceLimits.maxConnections` caps. An endpoint with none has no entry.
    private var open: [Endpoint: Int] = [:]

    /// HTTP/1.1 connections of this loop open or opening to `endpoint`.
    func openConnections(to endpoint: Endpoint) -> Int { open[endpoint] ?? 0 }

    /// Whether an idle connection to `endpoint` is pooled (it may have closed meanwhile).
    func hasIdle(_ endpoint: Endpoint) -> Bool { !(idle[endpoint]?.connections.isEmpty ?? true) }

    private func connectionClosed(_ endpoint: Endpoint) {
        guard let count = open[endpoint] else { return }
        open[endpoint] = count > 1 ? count - 1 : nil
    }

    /// The HTTP/1.1 codec of new connections.
    let http1: HTTP1Implementation

    /// The fields list this loop's response heads are parsed into (`HeadFieldsScratch`).
    let fieldsScratch: HeadFieldsScratch

    init(eventLoop: EventLoop, http1: HTTP1Implementation = .pier, fieldsScratch: HeadFieldsScratch = HeadFieldsScratch()) {
        self.fieldsScratch = fieldsScratch
        self.http1 = http1
        self.eventLoop = eventLoop
    }

    /// Forgets the addresses of endpoints that are in no pool of `table` (once per generation).
    func retainAddresses(of table: RouteTable) {
        guard !addresses.isEmpty else { return }
        let endpoints = Set(table.pools.lazy.flatMap(\.endpoints))
        addresses = addresses.filter { endpoints.contains($0.key) }
    }

    /// An idle connection to `endpoint`, if one is pooled and still open.
    func takeIdle(_ endpoint: Endpoint) -> UpstreamConnection? {
        // In place (no copy of the list), and an emptied list stays for the next release: the sweep drops it.
        guard let list = idle[endpoint] else { return nil }
        while let connection = list.connections.popLast() {
            // `isClosed` is set as the channel goes inactive, on this loop; a connection that closes as it is
            // reused is the stale case the handler retries on a fresh connection.
            if !connection.isClosed { return connection }
        }
        return nil
    }

    /// Puts `connection` back for reuse, or closes it when the endpoint already has `maxIdle` idle ones.
    /// An HTTP/2 stream is never reused: it is closed (its connection stays for the next stream).
    func release(_ connection: UpstreamConnection, maxIdle: Int, idleTimeout: Duration) {
        connection.delegate = nil
        connection.readsPaused = false
        guard !connection.isClosed else { return }
        if connection.isStream {
            connection.close()
            return
        }
        let now = NIODeadline.now()
        connection.idleSince = now
        connection.idleTimeout = TimeAmount(idleTimeout)
        let list: IdleList
        if let existing = idle[connection.endpoint] {
            list = existing
        } else {
            list = IdleList()
            idle[connection.endpoint] = list
        }
        guard list.connections.count < maxIdle else {
            connection.close()
            return
        }
        list.connections.append(connection)
        armSweep(idleTimeout: connection.idleTimeout, now: now)
    }

    /// One sweep timer per pool closes connections idle past the timeout: releasing a connection after
    /// every request must not schedule a timer every time.
    private var sweep: Scheduled<Void>?
    private var sweepDeadline: NIODeadline?

    /// Makes sure a sweep runs within half of `idleTimeout` (each connection keeps its own service's timeout).
    private func armSweep(idleTimeout: TimeAmount, now: NIODeadline) {
        let deadline = now + .nanoseconds(max(idleTimeout.nanoseconds / 2, 100_000_000))
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
                for connection in list.connections {
                    if now - connection.idleSince >= connection.idleTimeout || connection.isClosed {
                        connection.close()
                    } else {
                        kept.append(connection)
                        shortest = min(shortest ?? connection.idleTimeout, connection.idleTimeout)
                    }
                }
                if kept.isEmpty { idle[endpoint] = nil } else { list.connections = kept }
            }
            if let shortest { armSweep(idleTimeout: shortest, now: now) }
        }
    }

    private func remove(_ connection: UpstreamConnection) {
        idle[connection.endpoint]?.connections.removeAll { $0 === connection }
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
                    try stream.pipeline.syncOperations.addHandler(NIOClientPartAdapter())
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
        open[endpoint, default: 0] += 1
        let http1 = self.http1
        let scratch = fieldsScratch
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.init(timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // In place, before the connect (a `channelOption` costs a future and closures per connection).
                    try channel.syncOptions?.setOption(.tcpOption(.tcp_nodelay), value: 1)
                    // `ForwardedHeaders.upstreamHead` restates the framing of every request it sends. `.forwardBytes`:
                    // after a 101 the bytes behind the head belong to the WebSocket tunnel. Interim responses
                    // (100, 102, 103) come up so that `UpstreamHandler` can restart the response head's clock.
                    if http1 == .pier {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ClientCodecHandler(scratch: scratch))
                    } else {
                        try channel.pipeline.syncOperations.addHandlers([
                            HTTPRequestEncoder(configuration: .noFramingHeaders),
                            ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .forward)),
                            NIOClientPartAdapter(),
                        ])
                        try channel.pipeline.syncOperations.addHandler(HeadWatcher(awaiting: false), position: .first)
                    }
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
        return future.assumeIsolated().flatMapThrowing { [self] channel in
            let connection = UpstreamConnection(channel: channel, endpoint: endpoint)
            let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
            if http1 == .pier {
                let codec = try channel.pipeline.syncOperations.handler(type: HTTP1ClientCodecHandler.self)
                connection.headWatcher = codec
                connection.codec = codec
                codec.receiver = handler
            } else {
                connection.headWatcher = try channel.pipeline.syncOperations.handler(type: HeadWatcher.self)
            }
            handler.connection = connection
            connection.setOnClose { [self] closed in remove(closed) }
            // Counted down when the socket closes, whoever owns it then (a WebSocket tunnel removes the
            // upstream handler that reports closes to the pool).
            channel.closeFuture.assumeIsolated().whenComplete { [self] _ in connectionClosed(endpoint) }
            return connection
        }.flatMapErrorThrowing { [self] error in
            // Not connected (or no usable pipeline, never seen): no close callback will count this one down.
            connectionClosed(endpoint)
            throw error
        }.nonisolated()
    }
}

extension HTTPRequestEncoder.Configuration {
    /// Pier states every upstream request's framing headers itself.
    static var noFramingHeaders: Self {
        var configuration = Self()
        configuration.automaticallySetFramingHeaders = false
        return configuration
    }
}
