import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A real WebSocket server (NIO's upgrader) on 127.0.0.1: accepts upgrades on any path, greets with
/// `hello from <name>` right behind its 101, then echoes every message (text or binary, up to 17 MiB) and
/// answers close with close. Plain HTTP requests get `backend=<name>` plus the headers it saw.
final class WebSocketEchoBackend: Sendable {
    let name: String
    private let channel: Channel
    private let upgradeCount: NIOLockedValueBox<Int>

    var port: Int { channel.localAddress!.port! }
    /// Upgrades accepted so far.
    var upgrades: Int { upgradeCount.withLockedValue { $0 } }

    static let maxMessage = 17 * 1024 * 1024

    static func start(_ name: String) async throws -> WebSocketEchoBackend {
        let counter = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: maxMessage,
                    shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                    upgradePipelineHandler: { channel, _ in
                        counter.withLockedValue { $0 += 1 }
                        return channel.eventLoop.makeCompletedFuture {
                            // The plain-HTTP handler would see frame bytes: it leaves with the HTTP codec.
                            let plain = try channel.pipeline.syncOperations.handler(type: PlainHandler.self)
                            channel.pipeline.syncOperations.removeHandler(plain, promise: nil)
                            try channel.pipeline.syncOperations.addHandler(
                                NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16,
                                                            maxAccumulatedFrameSize: maxMessage))
                            try channel.pipeline.syncOperations.addHandler(EchoHandler(greeting: "hello from \(name)"))
                        }
                    })
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                    try channel.pipeline.syncOperations.addHandler(PlainHandler(name: name))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return WebSocketEchoBackend(name: name, channel: channel, counter: counter)
    }

    private init(name: String, channel: Channel, counter: NIOLockedValueBox<Int>) {
        self.name = name
        self.channel = channel
        self.upgradeCount = counter
    }

    func stop() async {
        try? await channel.close()
    }

    private final class EchoHandler: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let greeting: String

        init(greeting: String) { self.greeting = greeting }

        func handlerAdded(context: ChannelHandlerContext) {
            let data = context.channel.allocator.buffer(string: greeting)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: data)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            switch frame.opcode {
            case .text, .binary:
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: frame.opcode, data: frame.unmaskedData)), promise: nil)
            case .ping:
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
            case .connectionClose:
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: frame.unmaskedData)))
                    .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            default:
                break
            }
        }
    }

    /// Answers requests that are not upgrades.
    private final class PlainHandler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let name: String
        var head: HTTPRequestHead?

        init(name: String) { self.name = name }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): self.head = head
            case .body: break
            case .end:
                guard let head else { return }
                var text = "backend=\(name)\nuri=\(head.uri)\n"
                for (k, v) in head.headers { text += "h:\(k.lowercased())=\(v)\n" }
                var headers = HTTPHeaders()
                headers.add(name: "content-length", value: "\(text.utf8.count)")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
