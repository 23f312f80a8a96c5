import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import RouteModel
import ServiceLifecycle

/// The entrypoints: plain HTTP, and HTTPS (terminated TLS with HTTP/1.1 or HTTP/2, or passthrough by SNI);
/// accepts downstream connections and proxies them with the current route table.
///
/// A `Service`: `run()` binds, serves until graceful shutdown, then stops accepting, lets in-flight requests
/// finish within the grace period and returns.
public final class ProxyServer: Service, Sendable {
    /// How the entrypoint is set up.
    public struct Configuration: Sendable {
        /// Address to listen on.
        public var host: String
        /// Port to listen on; 0 picks a free one.
        public var port: Int
        /// Address and port of the HTTPS entrypoint; nil: none.
        public var https: (host: String, port: Int)?
        /// Time in-flight requests get to finish after shutdown starts.
        public var gracePeriod: Duration
        /// Whether the data plane counts requests, connections and handshakes for `metricsSnapshot()`; off,
        /// nothing is counted (one branch per event) and snapshots are empty but for health and generation.
        public var metrics: Bool
        /// The HTTP/1.1 codec of downstream and upstream connections.
        public var http1: HTTP1Implementation

        /// Creates a configuration.
        public init(host: String = "0.0.0.0", port: Int = 8080, https: (host: String, port: Int)? = nil,
                    gracePeriod: Duration = .seconds(10), metrics: Bool = true, http1: HTTP1Implementation = .pier) {
            self.host = host
            self.port = port
            self.https = https
            self.gracePeriod = gracePeriod
            self.metrics = metrics
            self.http1 = http1
        }
    }

    private let configuration: Configuration
    private let group: EventLoopGroup
    let tables: RouteTableBox
    private let logger: Logger
    private let accessLogger: Logger
    let loops: [ObjectIdentifier: LoopState]
    /// The listening channels and their quiescing helpers (NIO's helper serves one server channel each).
    private let state = NIOLockedValueBox<(channel: Channel?, httpsChannel: Channel?, quiesce: [ServerQuiescingHelper])>((nil, nil, []))
    private let boundPromise: EventLoopPromise<SocketAddress>
    private let tlsContexts = TLSContextStore()
    private let healthChecker: HealthChecker

    /// Creates a server over `group` that reads routes from `tables`.
    public init(configuration: Configuration, group: EventLoopGroup, tables: RouteTableBox, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.tables = tables
        self.logger = logger
        var access = logger
        access[metadataKey: "log"] = "access"
        self.accessLogger = access
        var loops: [ObjectIdentifier: LoopState] = [:]
        for loop in group.makeIterator() {
            loops[ObjectIdentifier(loop)] = LoopState(eventLoop: loop, loopCount: group.makeIterator().reduce(0) { n, _ in n + 1 },
                                                      metrics: configuration.metrics, http1: configuration.http1)
        }
        self.loops = loops
        self.boundPromise = group.next().makePromise()
        self.healthChecker = HealthChecker(eventLoop: group.next(), group: group, tables: tables, loops: Array(loops.values), logger: logger)
    }

    /// The address the server listens on, once bound.
    public var localAddress: SocketAddress {
        get async throws { try await boundPromise.futureResult.get() }
    }

    /// The address the HTTPS entrypoint listens on, once bound; nil without one.
    public var httpsAddress: SocketAddress? {
        state.withLockedValue { $0.httpsChannel?.localAddress }
    }

    /// Binds the listening sockets. Called by `run()`; tests may call it first to learn the ports.
    /// Throws `BindError` naming the entrypoint and address that failed.
    @discardableResult
    public func start() async throws -> SocketAddress {
        if let bound = state.withLockedValue({ $0.channel })?.localAddress { return bound }
        let quiesce = ServerQuiescingHelper(group: group)
        let httpsQuiesce = ServerQuiescingHelper(group: group)
        let tables = self.tables
        let loops = self.loops
        let accessLogger = self.accessLogger
        var httpsChannel: Channel?
        do {
            if let https = configuration.https {
                let channel = try await httpsBootstrap(quiesce: httpsQuiesce).bind(host: https.host, port: https.port).get()
                httpsChannel = channel
                logger.info("entrypoint listening", metadata: ["address": "\(Self.display(channel.localAddress!))", "scheme": "https"])
            }
        } catch {
            let failure = BindError(entrypoint: "HTTPS", host: configuration.https!.host, port: configuration.https!.port, error: error)
            boundPromise.fail(failure)
            throw failure
        }
        let httpsPort = httpsChannel?.localAddress?.port
        let bootstrap = listenerBootstrap(quiesce: quiesce)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A small first read, grown as needed: an idle keep-alive connection keeps a small buffer (e).
                    try Self.configureClientSocket(channel, recvAllocator: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
                    let loop = loops[ObjectIdentifier(channel.eventLoop)]!
                    loop.countDownstream(channel, scheme: .http)
                    try Self.configureDownstream(
                        channel: channel, tables: tables, loop: loop,
                        accessLogger: accessLogger, maxHeaderSize: tables.current.settings.maxHeaderSize,
                        downstream: Downstream(scheme: .http, port: nil, httpsPort: httpsPort, tls: nil))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
            state.withLockedValue { $0 = (channel, httpsChannel, httpsChannel == nil ? [quiesce] : [quiesce, httpsQuiesce]) }
            let address = channel.localAddress!
            boundPromise.succeed(address)
            healthChecker.start()
            logger.info("entrypoint listening", metadata: ["address": "\(Self.display(address))", "scheme": "http"])
            return address
        } catch {
            httpsChannel?.close(promise: nil)
            let failure = BindError(entrypoint: "HTTP", host: configuration.host, port: configuration.port, error: error)
            boundPromise.fail(failure)
            throw failure
        }
    }

    /// The options of an accepted client socket, set in place by the child channel's initializer (on its loop,
    /// before it is registered and reads). NIO's `childChannelOption`s do the same through futures and
    /// closures per option and connection: a new connection cost 98 allocations with them, 54 without
    /// (bench/PROFILE.md, session 11). `SO_REUSEADDR`, set here before, does nothing on an accepted socket.
    /// TCP_NODELAY is not set here: an accepted socket inherits it from the listening one (`listenerOptions`),
    /// where NIO's setting it again cost a `getsockname`, a `setsockopt` and two allocations per connection
    /// (NIO reads the local address first, to skip Unix sockets).
    static func configureClientSocket(_ channel: Channel, recvAllocator: AdaptiveRecvByteBufferAllocator? = nil) throws {
        guard let options = channel.syncOptions else { return }
        try options.setOption(.maxMessagesPerRead, value: 16)
        if let recvAllocator { try options.setOption(.recvAllocator, value: recvAllocator) }
    }

    /// The listening socket's options: a backlog for bursts, `SO_REUSEADDR` for restarts, and TCP_NODELAY,
    /// which every accepted socket inherits (Linux copies it to the sockets `accept` returns;
    /// `ClientSocketOptionsTests` checks it on a real one).
    static func listenerOptions(_ bootstrap: ServerBootstrap) -> ServerBootstrap {
        bootstrap
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    }

    /// What both entrypoints share: the listening socket's options and graceful-shutdown tracking by
    /// `quiesce` (one helper per listening socket). The client sockets' options: `configureClientSocket`.
    private func listenerBootstrap(quiesce: ServerQuiescingHelper) -> ServerBootstrap {
        Self.listenerOptions(ServerBootstrap(group: group))
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
    }

    private func httpsBootstrap(quiesce: ServerQuiescingHelper) -> ServerBootstrap {
        let tables = self.tables, loops = self.loops, accessLogger = self.accessLogger, logger = self.logger
        let contexts = tlsContexts
        let httpsPort = configuration.https?.port
        return listenerBootstrap(quiesce: quiesce)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configureClientSocket(channel)
                    // Redirects to HTTPS name the port the HTTPS entrypoint really listens on (port 0 in tests).
                    let port = httpsPort == 0 ? channel.localAddress?.port : httpsPort
                    let loop = loops[ObjectIdentifier(channel.eventLoop)]!
                    loop.countDownstream(channel, scheme: .https)
                    try channel.pipeline.syncOperations.addHandler(HTTPSClassifierHandler(
                        tables: tables, loop: loop, contexts: contexts,
                        accessLogger: accessLogger, logger: logger, httpsPort: port))
                }
            }
    }

    /// Sets up a downstream HTTP/1.1 pipeline: the loop's codec (Pier's, or NIO's decoder and encoder), then
    /// the proxy handler. Must run on the channel's event loop.
    static func configureDownstream(channel: Channel, tables: RouteTableBox, loop: LoopState, accessLogger: Logger,
                                    maxHeaderSize: Int, downstream: Downstream) throws {
        if loop.http1 == .pier {
            let codec = HTTP1ServerCodecHandler(maxHeadBytes: maxHeaderSize, scratch: loop.fieldsScratch)
            let proxy = HTTPProxyHandler(tables: tables, loop: loop, accessLogger: accessLogger, downstream: downstream, headWatcher: codec)
            try channel.pipeline.syncOperations.addHandler(codec)
            try channel.pipeline.syncOperations.addHandler(proxy)
            // Parts go straight between the two, not boxed by the pipeline (see `HTTP1ServerCodecHandler.receiver`).
            // Linked once both are in: their removal from the pipeline is what unlinks them.
            codec.receiver = proxy
            proxy.codec = codec
            return
        }
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = maxHeaderSize
        limits.maxHeaderFieldSize = maxHeaderSize
        let watcher = HeadWatcher(awaiting: true)
        try channel.pipeline.syncOperations.addHandler(watcher)
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            // Pipelining is handled by HTTPProxyHandler's queue: NIO's assistant stops reading after every
            // request, which costs two epoll_ctl calls per request on every keep-alive connection.
            withPipeliningAssistance: false,
            withErrorHandling: false,
            // Outbound heads are built from heads NIO's decoder already validated plus Pier's own fixed
            // headers: validating them again costs a scan of every byte per response.
            withOutboundHeaderValidation: false,
            // Framing headers are restated by `ForwardedHeaders.downstreamHead` (local answers carry a
            // Content-Length): NIO's own pass would search and edit every response head once more.
            withEncoderConfiguration: .noFramingHeaders,
            withDecoderLimitConfiguration: limits
        )
        let adapter = NIOServerPartAdapter()
        let proxy = HTTPProxyHandler(tables: tables, loop: loop, accessLogger: accessLogger, downstream: downstream, headWatcher: watcher)
        try channel.pipeline.syncOperations.addHandler(adapter)
        try channel.pipeline.syncOperations.addHandler(proxy)
        adapter.receiver = proxy
    }

    /// Serves until graceful shutdown (or cancellation), then drains.
    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        await drain()
    }

    /// Stops accepting; in-flight requests finish (up to the grace period), idle connections close.
    public func drain() async {
        let (channel, _, helpers) = state.withLockedValue { $0 }
        guard let channel, !helpers.isEmpty else { return }
        logger.info("entrypoint draining", metadata: ["grace": "\(configuration.gracePeriod)"])
        let done = channel.eventLoop.makePromise(of: Void.self)
        let each = helpers.map { helper in
            let promise = channel.eventLoop.makePromise(of: Void.self)
            helper.initiateShutdown(promise: promise)
            return promise.futureResult
        }
        EventLoopFuture.andAllComplete(each, on: channel.eventLoop).cascade(to: done)
        let timeout = channel.eventLoop.scheduleTask(in: .init(configuration.gracePeriod)) {
            done.succeed()
        }
        try? await done.futureResult.get()
        timeout.cancel()
        await healthChecker.stop()
        state.withLockedValue { $0 = (nil, nil, []) }
        logger.info("entrypoint stopped")
    }
}

extension HTTPResponseEncoder.Configuration {
    /// Pier states every response's framing headers itself.
    static var noFramingHeaders: Self {
        var configuration = Self()
        configuration.automaticallySetFramingHeaders = false
        return configuration
    }
}
