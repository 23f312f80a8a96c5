import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A raw TCP backend for passthrough tests: says `ready` when a connection opens, counts the bytes it reads
/// and, when the client's direction ends (half-close), answers "received=<n>" on its own, still open,
/// direction and then closes.
final class HalfCloseBackend: Sendable {
    let channel: Channel
    let port: Int

    private init(channel: Channel) {
        self.channel = channel
        self.port = channel.localAddress!.port!
    }

    static func start() async throws -> HalfCloseBackend {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Counter()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return HalfCloseBackend(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }

    private final class Counter: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private var received = 0

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: "ready\n")), promise: nil)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += unwrapInboundIn(data).readableBytes
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard let event = event as? ChannelEvent, event == .inputClosed else { return }
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: "received=\(received)"))).assumeIsolated()
                .whenComplete { _ in context.close(promise: nil) }
        }
    }
}
