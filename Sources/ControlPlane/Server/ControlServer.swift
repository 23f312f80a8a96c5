import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import Publishing
import ServiceLifecycle

/// The controller's end of the config channel: a TLS listener (mutual, cluster CA) speaking HTTP/2, one stream
/// per subscribed proxy. Each publication is encoded once, versioned by its hash, and offered to every proxy.
/// On graceful shutdown every proxy is told goodbye (it moves to another controller at once) before the
/// listener closes.
public final class ControlServer: Service, Sendable {
    /// How the server runs.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Who this controller is (its task name, node, Pier version), as proxies are told.
        public var identity: ControlMessage.Welcome
        public var maximumSubscribers = 1024
        var timing = SubscriberHandler.Timing()

        public init(host: String, port: Int, identity: ControlMessage.Welcome) {
            self.host = host
            self.port = port
            self.identity = identity
        }

        /// Heartbeat period and silence limit (tests shorten them).
        public mutating func setHeartbeat(every period: TimeAmount, deadAfter: TimeAmount) {
            timing.heartbeat = period
            timing.deadAfter = deadAfter
        }

        /// Time a stream gets to say hello; a connection without a subscribed proxy is closed after twice that.
        public mutating func setHelloDeadline(_ deadline: TimeAmount) {
            timing.helloDeadline = deadline
        }
    }

    private let configuration: Configuration
    private let tls: NIOSSLContext
    private let group: any EventLoopGroup
    private let publisher: Publisher
    private let logger: Logger
    private let registry: SubscriberRegistry
    private let bound: EventLoopPromise<SocketAddress>

    /// Creates a server; `tls` must require and verify client certificates (`CredentialFiles`).
    public init(configuration: Configuration, tls: NIOSSLContext, group: any EventLoopGroup, publisher: Publisher, logger: Logger) {
        self.configuration = configuration
        self.tls = tls
        self.group = group
        self.publisher = publisher
        self.logger = logger
        self.registry = SubscriberRegistry(limit: configuration.maximumSubscribers)
        self.bound = group.next().makePromise()
    }

    /// The address the listener is bound to, once it is.
    public var localAddress: SocketAddress {
        get async throws { try await bound.futureResult.get() }
    }

    /// The version of the latest snapshot offered, if any.
    public var version: String? { registry.latest?.version }

    /// The connected proxies.
    public var subscribers: [SubscriberStatus] { registry.statuses }

    public func run() async throws {
        let registry = self.registry, logger = self.logger, tls = self.tls
        let welcome = configuration.identity, timing = configuration.timing
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.configure(channel, tls: tls, registry: registry, welcome: welcome, timing: timing, logger: logger)
                    }
                }
                .bind(host: configuration.host, port: configuration.port).get()
        } catch {
            bound.fail(error)
            throw error
        }
        let address = channel.localAddress!
        bound.succeed(address)
        logger.info("control channel listening", metadata: ["address": "\(address)"])
        publisher.subscribe { publication in
            let (payload, version) = SnapshotCodec.encode(publication.inputs)
            var frame = ByteBuffer()
            ControlMessage.snapshot(version: version, payload: payload).write(to: &frame)
            registry.offer(.init(version: version, frame: frame))
            logger.info("snapshot offered", metadata: ["version": "\(version)", "generation": "\(publication.generation)",
                                                       "proxies": "\(registry.statuses.count)"])
        }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await channel.closeFuture.get()
            } onCancel: {
                // Cancelled: gone at once, as if killed (no goodbye).
                registry.drain(reason: nil)
                channel.close(promise: nil)
            }
        } onGracefulShutdown: {
            registry.drain(reason: "controller stopping")
            // The goodbyes go out before the listener and its connections close.
            channel.eventLoop.scheduleTask(in: .milliseconds(200)) { channel.close(promise: nil) }
        }
    }

    static func configure(_ channel: any Channel, tls: NIOSSLContext, registry: SubscriberRegistry,
                          welcome: ControlMessage.Welcome, timing: SubscriberHandler.Timing, logger: Logger) throws {
        let sync = channel.pipeline.syncOperations
        // A connection that has no subscribed proxy within the hello deadline (a stalled TLS handshake, no
        // stream) is closed: an open port must not let anyone hold sockets for free.
        let connection = NIOLoopBound(SubscriberHandler.Connection(), eventLoop: channel.eventLoop)
        let deadline = channel.eventLoop.assumeIsolated().scheduleTask(in: timing.helloDeadline * 2) {
            if !connection.value.subscribed { channel.close(promise: nil) }
        }
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
        try sync.addHandler(NIOSSLServerHandler(context: tls))
        try sync.addHandler(ControlConnectionErrorHandler(logger: logger, role: "controller"))
        var http2 = NIOHTTP2Handler.ConnectionConfiguration()
        http2.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 4),
            HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
        ]
        _ = try sync.configureHTTP2Pipeline(mode: .server, connectionConfiguration: http2, streamConfiguration: .init()) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try stream.pipeline.syncOperations.addHandler(
                    SubscriberHandler(registry: registry, welcome: welcome, timing: timing, connection: connection, logger: logger))
            }
        }
    }
}

/// Logs why a control connection failed (a refused certificate, above all) and closes it.
final class ControlConnectionErrorHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let logger: Logger
    private let role: String
    private var reported = false

    init(logger: Logger, role: String) {
        self.logger = logger
        self.role = role
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !reported {
            reported = true
            let peer = context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
            if role == "controller" {
                logger.warning("control connection refused", metadata: ["peer": "\(peer)", "error": "\(error)"])
            }
        }
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
