import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// A real WebSocket client (NIO's client upgrader): connects to Pier, upgrades on a path with a Host header,
/// then sends and receives whole messages. With `tls`, speaks HTTPS/1.1 first (ALPN http/1.1 only).
final class WebSocketTestClient {
    private let channel: Channel
    private let messages: AsyncThrowingStream<WebSocketFrame, Error>
    private var iterator: AsyncThrowingStream<WebSocketFrame, Error>.AsyncIterator

    private init(channel: Channel, messages: AsyncThrowingStream<WebSocketFrame, Error>) {
        self.channel = channel
        self.messages = messages
        self.iterator = messages.makeAsyncIterator()
    }

    enum Failure: Error { case notUpgraded(String) }

    static func connect(port: Int, host: String, path: String, tls: NIOSSLContext? = nil) async throws -> WebSocketTestClient {
        let (stream, continuation) = AsyncThrowingStream<WebSocketFrame, Error>.makeStream()
        let upgraded = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: WebSocketEchoBackend.maxMessage) { channel, _ in
            channel.eventLoop.makeCompletedFuture {
                // The refusal catcher is for HTTP responses only; frames must not reach it.
                let refusal = try channel.pipeline.syncOperations.handler(type: Refusal.self)
                channel.pipeline.syncOperations.removeHandler(refusal, promise: nil)
                try channel.pipeline.syncOperations.addHandler(
                    NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16,
                                                maxAccumulatedFrameSize: WebSocketEchoBackend.maxMessage))
                try channel.pipeline.syncOperations.addHandler(Collector(continuation: continuation))
            }
        }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: host))
                    }
                    // `.forwardBytes`: a message right behind the 101, in the same read, belongs to the WebSocket.
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        leftOverBytesStrategy: .forwardBytes,
                        withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in upgraded.succeed() }))
                    try channel.pipeline.syncOperations.addHandler(Refusal(promise: upgraded))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        var headers = HTTPHeaders()
        headers.add(name: "host", value: host)
        headers.add(name: "content-length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        do {
            try await upgraded.futureResult.get()
        } catch {
            try? await channel.close()
            throw error
        }
        return WebSocketTestClient(channel: channel, messages: stream)
    }

    /// Sends one message (masked, as clients must).
    func send(_ bytes: [UInt8], opcode: WebSocketOpcode = .binary) async throws {
        let data = channel.allocator.buffer(bytes: bytes)
        let key = WebSocketMaskingKey.random()
        try await channel.writeAndFlush(WebSocketFrame(fin: true, opcode: opcode, maskKey: key, data: data)).get()
    }

    func send(text: String) async throws {
        try await send(Array(text.utf8), opcode: .text)
    }

    /// The next whole message from the server.
    func receive() async throws -> WebSocketFrame {
        guard let frame = try await iterator.next() else { throw Failure.notUpgraded("connection closed") }
        return frame
    }

    func receiveText() async throws -> String {
        String(buffer: try await receive().unmaskedData)
    }

    /// Sends a close frame and waits for the connection to end.
    func close() async {
        let key = WebSocketMaskingKey.random()
        try? await channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: key, data: channel.allocator.buffer(capacity: 0))).get()
        _ = try? await channel.closeFuture.get()
    }

    /// Closes the TCP connection without a close frame.
    func drop() async {
        try? await channel.close()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        let continuation: AsyncThrowingStream<WebSocketFrame, Error>.Continuation
        init(continuation: AsyncThrowingStream<WebSocketFrame, Error>.Continuation) { self.continuation = continuation }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            if frame.opcode == .text || frame.opcode == .binary { continuation.yield(frame) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            continuation.finish()
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            continuation.finish(throwing: error)
            context.close(promise: nil)
        }
    }

    /// Fails the upgrade with the status of a response that did not switch protocols.
    private final class Refusal: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<Void>
        init(promise: EventLoopPromise<Void>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data) { promise.fail(Failure.notUpgraded("\(head.status.code)")) }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            promise.fail(error)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(Failure.notUpgraded("connection closed"))
            context.fireChannelInactive()
        }
    }
}
