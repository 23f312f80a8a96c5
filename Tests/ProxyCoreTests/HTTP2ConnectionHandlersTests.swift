import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import ProxyCore

/// The two connection-level handlers Pier adds to NIO's HTTP/2 pipeline.
struct HTTP2ConnectionHandlersTests {
    /// Counts the flushes that reach the socket.
    final class FlushCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var flushes = 0

        func flush(context: ChannelHandlerContext) {
            flushes += 1
            context.flush()
        }
    }

    static func channel() throws -> (EmbeddedChannel, FlushCounter) {
        let channel = EmbeddedChannel()
        let counter = FlushCounter()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(FlushCoalescingHandler())
        return (channel, counter)
    }

    @Test func flushesOfOneLoopTurnReachTheSocketOnceAtItsEnd() throws {
        let (channel, counter) = try Self.channel()
        for text in ["one", "two", "three"] {
            channel.write(ByteBuffer(string: text), promise: nil)
            channel.flush()
        }
        #expect(counter.flushes == 0)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing leaves before the turn ends")
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "one"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "two"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "three"))
        // The next turn flushes again.
        channel.write(ByteBuffer(string: "four"), promise: nil)
        channel.flush()
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 2)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "four"))
        _ = try channel.finish()
    }

    @Test func aCloseSendsWhatWasWrittenFirst() throws {
        let (channel, counter) = try Self.channel()
        channel.write(ByteBuffer(string: "goaway"), promise: nil)
        channel.flush()
        let closed = channel.close()
        #expect(counter.flushes == 1, "the pending flush went out before the close")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "goaway"))
        channel.embeddedEventLoop.run()
        try closed.wait()
        #expect(counter.flushes == 1, "no second flush after the close")
    }

    @Test(arguments: [
        // Connection errors Pier answers by closing.
        (NIOHTTP2Errors.excessiveRSTFrames() as any Error, true),
        (NIOHTTP2Errors.excessiveNumberOfGlitches(), true),
        (NIOHTTP2Errors.excessiveStreamErrors(), true),
        (NIOHTTP2Errors.badClientMagic(), true),
        (NIOHPACKErrors.ZeroHeaderIndex(), true),
        // What NIO reports for one stream it has reset, wrapped or not: the connection stays.
        (NIOHTTP2Errors.streamError(streamID: 1, baseError: NIOHTTP2Errors.noSuchStream(streamID: 1)), false),
        (NIOHTTP2Errors.forbiddenHeaderField(name: "connection", value: "close"), false),
        (NIOHTTP2Errors.contentLengthViolated(), false),
        (NIOHTTP2Errors.badStreamStateTransition(from: .closed), false),
        (NIOHTTP2Errors.trailersWithoutEndStream(streamID: 3), false),
        (IOError(errnoCode: 104, reason: "read"), false),
    ])
    func connectionErrorsCloseStreamErrorsDoNot(error: any Error, closes: Bool) throws {
        #expect(HTTP2ConnectionGuard.endsConnection(error) == closes)
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.pipeline.syncOperations.addHandler(HTTP2ConnectionGuard(state: HTTP2ConnectionState()))
        channel.pipeline.fireErrorCaught(error)
        channel.embeddedEventLoop.run()
        #expect(channel.isActive == !closes, "\(error)")
        if !closes { _ = try channel.finish() }
    }
}
