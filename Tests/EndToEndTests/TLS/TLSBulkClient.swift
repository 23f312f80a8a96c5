import Foundation
import NIOCore
import NIOPosix

/// Sends `payload` over TLS to 127.0.0.1:`port` (SNI `serverName`, trusting only `caPath`) while reading the
/// echo; succeeds with the number of echoed bytes that matched the payload, in order, once all came back.
enum TLSBulkClient {
    static func echo(port: Int, serverName: String, caPath: String, payload: [UInt8]) async throws -> Int {
        let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Int.self)
        let channel = try await connectTLS(port: port, serverName: serverName, caPath: caPath) { pipeline in
            try pipeline.addHandler(Bulk(payload: payload, done: promise))
        }
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

/// The server's first HTTP/2 SETTINGS frame, read raw over TLS with ALPN h2 (a server sends it as soon as the
/// connection is up): its parameters by identifier (RFC 9113 §6.5.2: 3 is MAX_CONCURRENT_STREAMS, 6
/// MAX_HEADER_LIST_SIZE, 4 INITIAL_WINDOW_SIZE).
enum HTTP2SettingsProbe {
    static func settings(port: Int, serverName: String, caPath: String) async throws -> [UInt16: UInt32] {
        let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: [UInt16: UInt32].self)
        let channel = try await connectTLS(port: port, serverName: serverName, caPath: caPath, alpn: ["h2"]) { pipeline in
            try pipeline.addHandler(Reader(done: promise))
        }
        defer { channel.close(promise: nil) }
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(10)) { promise.fail(ChannelError.connectTimeout(.seconds(10))) }
        defer { timeout.cancel() }
        return try await promise.futureResult.get()
    }

    private final class Reader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let done: EventLoopPromise<[UInt16: UInt32]>
        var received = ByteBuffer()

        init(done: EventLoopPromise<[UInt16: UInt32]>) {
            self.done = done
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            received.writeBuffer(&buffer)
            // Frame header: 24-bit length, type, flags, 32-bit stream id; SETTINGS is type 4.
            guard received.readableBytes >= 9, let length = received.getInteger(at: received.readerIndex, as: UInt32.self).map({ $0 >> 8 }),
                received.readableBytes >= 9 + Int(length)
            else { return }
            guard received.getInteger(at: received.readerIndex + 3, as: UInt8.self) == 4 else {
                return done.fail(ChannelError.inappropriateOperationForState)
            }
            var settings: [UInt16: UInt32] = [:]
            var offset = received.readerIndex + 9
            while offset + 6 <= received.readerIndex + 9 + Int(length) {
                if let id = received.getInteger(at: offset, as: UInt16.self), let value = received.getInteger(at: offset + 2, as: UInt32.self) {
                    settings[id] = value
                }
                offset += 6
            }
            done.succeed(settings)
        }

        func channelInactive(context: ChannelHandlerContext) {
            done.fail(ChannelError.eof)
        }
    }
}
