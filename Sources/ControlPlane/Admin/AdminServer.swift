import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// A small HTTP/1.1 listener for the container's own use: `/live` (an event loop answers), `/ready` (200 once
/// there is something to serve, 503 with the reason otherwise and while draining) and `/status` (JSON), by
/// default on 127.0.0.1 inside the container. `pier health` (the image's HEALTHCHECK) reads `/ready`.
public final class AdminServer: Service, Sendable {
    /// What `/ready` says: nil when ready, else why not.
    public typealias Readiness = @Sendable () -> String?
    /// The body of `/status`.
    public typealias Status = @Sendable () -> String

    private let host: String
    private let port: Int
    private let group: any EventLoopGroup
    private let readiness: Readiness
    private let status: Status
    private let logger: Logger
    private let bound: EventLoopPromise<SocketAddress>

    public init(host: String, port: Int, group: any EventLoopGroup, logger: Logger, readiness: @escaping Readiness,
                status: @escaping Status) {
        self.host = host
        self.port = port
        self.group = group
        self.logger = logger
        self.readiness = readiness
        self.status = status
        self.bound = group.next().makePromise()
    }

    /// The bound address, once bound.
    public var localAddress: SocketAddress { get async throws { try await bound.futureResult.get() } }

    public func run() async throws {
        let readiness = self.readiness, status = self.status
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(AdminHandler(readiness: readiness, status: status))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            bound.fail(error)
            logger.error("cannot listen on the admin address \(host):\(port): \(error)")
            throw error
        }
        bound.succeed(channel.localAddress!)
        logger.info("admin listening", metadata: ["address": "\(channel.localAddress!)"])
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await channel.closeFuture.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let readiness: AdminServer.Readiness
    private let status: AdminServer.Status

    init(readiness: @escaping AdminServer.Readiness, status: @escaping AdminServer.Status) {
        self.readiness = readiness
        self.status = status
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let (code, body, type): (HTTPResponseStatus, String, String)
        switch head.uri.split(separator: "?").first.map(String.init) ?? "" {
        case "/live": (code, body, type) = (.ok, "live\n", "text/plain")
        case "/ready":
            if let reason = readiness() { (code, body, type) = (.serviceUnavailable, "not ready: \(reason)\n", "text/plain") }
            else { (code, body, type) = (.ok, "ready\n", "text/plain") }
        case "/status": (code, body, type) = (.ok, status(), "application/json")
        default: (code, body, type) = (.notFound, "not found\n", "text/plain")
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: type)
        headers.add(name: "content-length", value: "\(body.utf8.count)")
        headers.add(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: code, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
