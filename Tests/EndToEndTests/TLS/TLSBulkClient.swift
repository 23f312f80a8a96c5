import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Sends `payload` over TLS to 127.0.0.1:`port` (SNI `serverName`, trusting only `caPath`) while reading the
/// echo; succeeds with the number of echoed bytes that matched the payload, in order, once all came back.
enum TLSBulkClient {
    static func echo(port: Int, serverName: String, caPath: String, payload: [UInt8]) async throws -> Int {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(caPath)
        let context = try NIOSSLContext(configuration: configuration)
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: Int.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
                    try channel.pipeline.syncOperations.addHandler(Bulk(payload: payload, done: promise))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        defer { channel.close(promise: nil) }
        return try await promise.futureResult.get()
    }

    private final class Bulk: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let payload: [UInt8]
        let done: EventLoopPromise<Int>
        var sent = 0
        var matched = 0
        var failed = false

        init(payload: [UInt8], done: EventLoopPromise<Int>) {
            self.payload = payload
            self.done = done
        }

        func channelActive(context: ChannelHandlerContext) {
            pump(context)
            context.fireChannelActive()
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            pump(context)
        }

        private func pump(_ context: ChannelHandlerContext) {
            while sent < payload.count, context.channel.isWritable {
                let n = min(64 * 1024, payload.count - sent)
                context.write(NIOAny(context.channel.allocator.buffer(bytes: payload[sent..<(sent + n)])), promise: nil)
                sent += n
            }
            context.flush()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            let n = buffer.readableBytes
            if matched + n > payload.count {
                failed = true
            } else {
                // Compared a chunk at a time with memcmp: a debug build is slow per byte.
                let same = buffer.withUnsafeReadableBytes { received in
                    payload.withUnsafeBytes { sent in memcmp(received.baseAddress!, sent.baseAddress! + matched, n) == 0 }
                }
                if same { matched += n } else { failed = true }
            }
            if failed {
                done.fail(TestFailure("echo differs after \(matched) bytes"))
                context.close(promise: nil)
            } else if matched == payload.count {
                done.succeed(matched)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            done.fail(TestFailure("connection closed after \(matched) of \(payload.count) echoed bytes"))
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            done.fail(error)
            context.close(promise: nil)
        }
    }
}
