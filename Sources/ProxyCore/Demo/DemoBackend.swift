import NIOCore
import NIOHTTP1
import NIOPosix

/// A tiny HTTP backend for `pier demo`: answers every request with its own name and the request it saw,
/// so that a reader can watch routing, rewriting and forwarded headers at work.
public final class DemoBackend: Sendable {
    /// The name it answers with.
    public let name: String
    private let channel: Channel

    private init(name: String, channel: Channel) {
        self.name = name
        self.channel = channel
    }

    /// The port it listens on (127.0.0.1).
    public var port: Int { channel.localAddress?.port ?? 0 }

    /// Starts a backend on 127.0.0.1 with a free port.
    public static func start(name: String, group: EventLoopGroup) async throws -> DemoBackend {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(name: name))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return DemoBackend(name: name, channel: channel)
    }

    /// Stops listening.
    public func stop() async {
        try? await channel.close()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let name: String
        var head: HTTPRequestHead?
        var bodyBytes = 0

        init(name: String) { self.name = name }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
                bodyBytes = 0
            case .body(let b):
                bodyBytes += b.readableBytes
            case .end:
                guard let head else { return }
                var text = "Hello from \(name)!\n\nThe request I received:\n  \(head.method) \(head.uri) HTTP/\(head.version.major).\(head.version.minor)\n"
                for (k, v) in head.headers { text += "  \(k): \(v)\n" }
                if bodyBytes > 0 { text += "  (\(bodyBytes) body bytes)\n" }
                var headers = HTTPHeaders()
                headers.add(name: "content-type", value: "text/plain; charset=utf-8")
                headers.add(name: "content-length", value: String(text.utf8.count))
                headers.add(name: "x-demo-backend", value: name)
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
                let keepAlive = head.isKeepAlive
                context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                    if !keepAlive { context.close(promise: nil) }
                }
                self.head = nil
            }
        }
    }
}
