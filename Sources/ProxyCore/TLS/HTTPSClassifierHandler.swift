import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS
import RouteModel

/// The first handler of every HTTPS entrypoint connection: reads the ClientHello's server name without
/// terminating (NIO's `SNIHandler`, which buffers the bytes until the pipeline is set up), decides from the
/// current snapshot, and sets the connection up for what it is: terminated TLS (HTTP/1.1 or HTTP/2 by ALPN),
/// a passthrough relay, or a refusal with an `unrecognized_name` alert.
///
/// Owns the handshake deadline: a client that has not finished its ClientHello (and, when terminated, the
/// handshake) in time is cut off. Owned by the connection's event loop; removes itself once the connection
/// is set up. It never parses TLS itself.
final class HTTPSClassifierHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// Largest ClientHello accepted: one TLS record of 2^14 bytes plus its header.
    static let maxClientHelloBytes = 16 * 1024 + 5

    /// A TLS alert record: fatal `unrecognized_name` (RFC 6066 §3), sent when no certificate fits.
    static let unrecognizedNameAlert: [UInt8] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]

    private let tables: RouteTableBox
    private let loop: LoopState
    private let contexts: TLSContextStore
    private let accessLogger: Logger
    private let logger: Logger
    private let httpsPort: Int?
    private let connector: Connector
    private var context: ChannelHandlerContext?
    private var deadline: Scheduled<Void>?
    private var done = false
    /// The connection's handshake result was counted (once per connection, whatever follows).
    private var handshakeCounted = false

    /// Opens a passthrough connection to an endpoint on the given loop, within the timeout. Tests replace it.
    typealias Connector = (Endpoint, EventLoop, TimeAmount) -> EventLoopFuture<Channel>

    /// TCP to the endpoint, with half-close allowed so that a client's shutdown travels through.
    static func tcpConnect(_ endpoint: Endpoint, on loop: EventLoop, timeout: TimeAmount) -> EventLoopFuture<Channel> {
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: endpoint.host, port: endpoint.port)
    }

    init(tables: RouteTableBox, loop: LoopState, contexts: TLSContextStore, accessLogger: Logger, logger: Logger, httpsPort: Int?,
         connector: @escaping Connector = HTTPSClassifierHandler.tcpConnect) {
        self.connector = connector
        self.tables = tables
        self.loop = loop
        self.contexts = contexts
        self.accessLogger = accessLogger
        self.logger = logger
        self.httpsPort = httpsPort
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let sni = SNIHandler { [self] result in classified(result) }
        do {
            try context.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(sni, maximumBufferSize: Self.maxClientHelloBytes), position: .before(self))
        } catch {
            context.close(promise: nil)
            return
        }
        let timeout = TimeAmount(tables.current.settings.tlsHandshakeTimeout)
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard !done, let context = self.context else { return }
            countHandshake(.timeout)
            refused(context, FailureCause(.tlsHandshakeTimeout))
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Before the connection is set up every error is fatal: an oversized or garbled ClientHello, a failed
        // handshake.
        if !done { countHandshake(.failed) }
        refused(context, FailureCause(.tlsHandshakeFailed), error: error)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func classified(_ result: SNIResult) -> EventLoopFuture<Void> {
        guard let context else { return loop.eventLoop.makeSucceededVoidFuture() }
        let table = tables.current
        let serverName: String?
        if case .hostname(let name) = result { serverName = HostName.normalize(name) } else { serverName = nil }
        switch table.decideTLS(serverName: serverName) {
        case .reject:
            countHandshake(.noCertificate)
            refused(context, FailureCause(.tlsNoCertificate), serverName: serverName)
            var alert = context.channel.allocator.buffer(capacity: Self.unrecognizedNameAlert.count)
            alert.writeBytes(Self.unrecognizedNameAlert)
            context.writeAndFlush(NIOAny(alert)).assumeIsolated().whenComplete { [context] _ in context.close(promise: nil) }
            return context.eventLoop.makeSucceededVoidFuture()
        case .terminate(let certificate):
            return terminate(context, certificate: certificate, serverName: serverName, table: table)
        case .passthrough(let pool, let proxyProtocol):
            return passthrough(context, pool: pool, proxyProtocol: proxyProtocol, table: table, tried: [])
        }
    }

    // MARK: - Terminated TLS

    private func terminate(_ context: ChannelHandlerContext, certificate: TLSCertificate, serverName: String?, table: RouteTable) -> EventLoopFuture<Void> {
        let sslContext: NIOSSLContext
        do {
            sslContext = try contexts.context(for: certificate, policy: table.settings.tlsPolicy, table: table)
        } catch {
            logger.error("certificate unusable; handshake refused", metadata: [
                "certificate": "\(certificate.name)", "error": "\(error)", "cause": "\(FailureCause(.certificateUnusable))"])
            countHandshake(.certificateUnusable)
            context.close(promise: nil)
            return context.eventLoop.makeSucceededVoidFuture()
        }
        let downstream = Downstream(scheme: .https, port: context.channel.localAddress?.port, httpsPort: httpsPort,
                                    tls: .init(serverName: serverName, certificateName: certificate.name))
        let channel = context.channel
        let tables = self.tables, loop = self.loop, accessLogger = self.accessLogger
        let negotiation = ApplicationProtocolNegotiationHandler { [self] result in
            // The handshake is done: the deadline has served its purpose.
            done = true
            countHandshake(.ok)
            removeSelf()
            do {
                switch result {
                case .negotiated("h2"):
                    try HTTP2Downstream.configure(channel: channel, tables: tables, loop: loop, accessLogger: accessLogger, downstream: downstream)
                default:
                    try ProxyServer.configureDownstream(channel: channel, tables: tables, loop: loop, accessLogger: accessLogger,
                                                        maxHeaderSize: tables.current.settings.maxHeaderSize, downstream: downstream)
                }
                return channel.eventLoop.makeSucceededVoidFuture()
            } catch {
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
        do {
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext), position: .before(self))
            try context.pipeline.syncOperations.addHandler(negotiation, position: .before(self))
        } catch {
            context.close(promise: nil)
        }
        return context.eventLoop.makeSucceededVoidFuture()
    }

    // MARK: - Passthrough

    private func passthrough(_ context: ChannelHandlerContext, pool: BackendPool, proxyProtocol: ProxyProtocolVersion?,
                             table: RouteTable, tried: [Endpoint], failed: FailureCause.Kind? = nil) -> EventLoopFuture<Void> {
        let now = NIODeadline.now().uptimeNanoseconds
        let key = pool.policy == .clientAddress ? context.channel.remoteAddress?.ipText : nil
        // The first endpoint the balancer's way; after a failed connect, one other within the retry budget.
        let choice: RetryPick
        if tried.isEmpty {
            choice = loop.pick(pool, in: table, affinityKey: key, now: now).map(RetryPick.endpoint) ?? .refused(.noOtherEndpoint)
        } else {
            choice = tried.count < 2 ? loop.pickForRetry(pool, affinityKey: key, excluding: tried, now: now) : .refused(.done)
        }
        guard case .endpoint(let endpoint) = choice else {
            // No endpoint at all, or the last connect failure with why it was not retried.
            var cause = FailureCause(failed ?? .noEndpoint)
            if failed != nil, case .refused(let why) = choice { cause.retry = why }
            var metadata: Logger.Metadata = ["service": "\(pool.services.joined(separator: ","))", "cause": "\(cause)"]
            if cause.retry != .notApplicable { metadata["retry"] = "\(cause.retry.rawValue)" }
            logger.warning("passthrough: no endpoint reachable", metadata: metadata)
            context.close(promise: nil)
            return context.eventLoop.makeSucceededVoidFuture()
        }
        let downstream = context.channel
        let settings = table.settings(forPool: pool.id)
        let connect = connector(endpoint, context.eventLoop, TimeAmount(settings.connectTimeout))
        return connect.assumeIsolated().flatMap { [self] upstream in
            // The client may have left while Pier was connecting: nothing to relay, no connection to keep.
            guard let context = self.context, downstream.isActive else {
                upstream.close(promise: nil)
                return upstream.eventLoop.makeSucceededVoidFuture()
            }
            do {
                try downstream.syncOptions?.setOption(.allowRemoteHalfClosure, value: true)
                if let proxyProtocol {
                    let header = ProxyProtocolHeader.encode(proxyProtocol, source: downstream.remoteAddress, destination: downstream.localAddress)
                    upstream.write(upstream.allocator.buffer(bytes: header), promise: nil)
                }
                loop.reportSuccess(endpoint)
                if pool.policy == .leastConnections {
                    loop.requestStarted(on: endpoint)
                    downstream.closeFuture.assumeIsolated().whenComplete { [loop] _ in loop.requestEnded(on: endpoint) }
                }
                // A relay that carries nothing either way for the read timeout closes.
                loop.countUpstream(upstream, of: pool, opened: \.passthroughOpened, closed: \.passthroughClosed)
                let (client, server) = GlueHandler.pair(idleTimeout: TimeAmount(settings.readTimeout), timers: loop.timers)
                try upstream.pipeline.syncOperations.addHandler(server)
                try context.pipeline.syncOperations.addHandler(client, position: .before(self))
                done = true
                removeSelf()
                return upstream.eventLoop.makeSucceededVoidFuture()
            } catch {
                upstream.close(promise: nil)
                downstream.close(promise: nil)
                return upstream.eventLoop.makeFailedFuture(error)
            }
        }.flatMapError { [self] error in
            // Connect failed: one more endpoint of the pool, if there is another.
            guard let context = self.context, downstream.isActive else { return downstream.eventLoop.makeSucceededVoidFuture() }
            let kind: FailureCause.Kind
            if case ChannelError.connectTimeout = error { kind = .connectTimeout } else { kind = .connectRefused }
            logger.warning("passthrough: endpoint unreachable", metadata: ["endpoint": "\(endpoint)", "error": "\(error)", "cause": "\(FailureCause(kind))"])
            loop.countConnectFailure(pool, error: error)
            loop.reportFailure(endpoint, health: pool.passiveHealth, now: NIODeadline.now().uptimeNanoseconds)
            return passthrough(context, pool: pool, proxyProtocol: proxyProtocol, table: table, tried: tried + [endpoint], failed: kind)
        }.nonisolated()
    }

    /// A connection refused before it carried anything: logged at debug (scanners and port probes cause most
    /// of them, and an info line each would let them write the log).
    private func refused(_ context: ChannelHandlerContext, _ cause: FailureCause, serverName: String? = nil, error: Error? = nil) {
        guard logger.logLevel <= .debug else { return }
        var metadata: Logger.Metadata = ["cause": "\(cause)", "client": "\(context.channel.remoteAddress?.ipAddress ?? "-")"]
        if let serverName { metadata["sni"] = "\(serverName)" }
        if let error { metadata["error"] = "\(error)" }
        logger.debug("TLS connection refused: \(cause.summary)", metadata: metadata)
    }

    private func countHandshake(_ result: DataPlaneSnapshot.TLSResult) {
        guard !handshakeCounted else { return }
        handshakeCounted = true
        loop.metrics?.tlsHandshake(result)
    }

    private func removeSelf() {
        deadline?.cancel()
        guard let context else { return }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
