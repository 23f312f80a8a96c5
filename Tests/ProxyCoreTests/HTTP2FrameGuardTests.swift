import NIOCore
import NIOEmbedded
import NIOHTTP2
import Testing

@testable import ProxyCore

/// The frame walker, the budget and `HTTP2FrameGuard` on bytes built by hand.
struct HTTP2FrameGuardTests {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type, flags] + withUnsafeBytes(of: stream.bigEndian, Array.init) + payload
    }

    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }

    static func windowUpdate(stream: UInt32 = 0, _ increment: UInt32 = 1) -> [UInt8] { frame(0x8, stream: stream, u32(increment)) }

    static func goAway(last: UInt32, code: UInt32) -> [UInt8] { frame(0x7, u32(last) + u32(code)) }

    /// A mix of frames: SETTINGS, HEADERS, padded DATA, WINDOW_UPDATE, an unknown type, PING.
    static let mix: [UInt8] = preface + frame(0x4, [0, 3, 0, 0, 0, 100]) + frame(0x1, flags: 0x4, stream: 1, [0x82, 0x86, 0x84])
        + frame(0x0, flags: 0x9, stream: 1, [2, 0x61, 0, 0]) + windowUpdate(stream: 1, 10) + frame(0xFF, stream: 3, [1, 2, 3])
        + frame(0x6, [UInt8](repeating: 0, count: 8))

    static func headers(of bytes: [UInt8], splitAt cuts: [Int]) -> [HTTP2FrameWalker.Header] {
        var walker = HTTP2FrameWalker(preface: 24)
        var out: [HTTP2FrameWalker.Header] = []
        var start = 0
        for end in cuts + [bytes.count] where end > start {
            _ = walker.walk(ByteBuffer(bytes: bytes[start..<end])) { header, _ in
                out.append(header)
                return .take
            }
            start = end
        }
        return out
    }

    @Test func walkerFindsTheSameHeadersWhereverTheBytesAreCut() {
        let whole = Self.headers(of: Self.mix, splitAt: [])
        #expect(whole.map(\.type) == [0x4, 0x1, 0x0, 0x8, 0xFF, 0x6])
        #expect(whole[2] == .init(length: 4, type: 0x0, flags: 0x9, stream: 1))
        for cut in 1..<Self.mix.count {
            #expect(Self.headers(of: Self.mix, splitAt: [cut]) == whole, "cut at \(cut)")
        }
        #expect(Self.headers(of: Self.mix, splitAt: Array(1..<Self.mix.count)) == whole, "byte by byte")
    }

    @Test func walkerStopsBeforeAHeaderAndResumesThere() {
        let bytes = Self.preface + Self.windowUpdate() + Self.windowUpdate() + Self.windowUpdate()
        var walker = HTTP2FrameWalker(preface: 24)
        var seen = 0
        var buffer = ByteBuffer(bytes: bytes)
        let cut = walker.walk(buffer) { _, _ in
            seen += 1
            return seen == 2 ? .stop : .take
        }
        #expect(cut == 24 + 13)
        buffer.moveReaderIndex(to: cut!)
        var rest = 0
        #expect(walker.walk(buffer) { _, _ in rest += 1; return .take } == nil)
        #expect(rest == 2)
    }

    @Test func budgetChargesFramesThatCarryNothingAndIsRefilledByUse() {
        var budget = HTTP2FrameBudget(now: .uptimeNanoseconds(0))
        let update = HTTP2FrameWalker.Header(length: 4, type: 0x8, flags: 0, stream: 0)
        let data = HTTP2FrameWalker.Header(length: 100, type: 0x0, flags: 0, stream: 1)
        let emptyEnd = HTTP2FrameWalker.Header(length: 0, type: 0x0, flags: 0x1, stream: 1)
        var accepted = 0
        for _ in 0..<HTTP2FrameBudget.capacity where budget.charge(update) { accepted += 1 }
        #expect(accepted == HTTP2FrameBudget.capacity)
        let free = budget.charge(data) && budget.charge(emptyEnd)
        #expect(free, "DATA with bytes, or ending a stream, costs nothing")
        let over = budget.charge(update)
        #expect(!over)
        budget.credit(HTTP2FrameBudget.creditPerDataFrameSent * 10)
        budget.refill(now: .uptimeNanoseconds(2_000_000_000))
        #expect(budget.tokens == -1 + 40 + 2 * HTTP2FrameBudget.creditPerSecond)
    }

    /// A guard on an embedded channel, with the frames NIO would get collected.
    static func guarded(state: HTTP2ConnectionState = HTTP2ConnectionState(now: .now())) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTP2FrameGuard(state: state, advertisedStreams: 128, enforcedStreams: 256))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    static func readAll(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var out: [UInt8] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { out += Array(buffer.readableBytesView) }
        return out
    }

    @Test func errorGoAwayGetsTheLastStreamPierProcessedAndClosesTheConnection() throws {
        let state = HTTP2ConnectionState(now: .now())
        state.lastStreamID = 7
        let channel = try Self.guarded(state: state)
        try channel.writeOutbound(ByteBuffer(bytes: Self.goAway(last: 0x7FFF_FFFF, code: 0x3)))
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(Array(written.readableBytesView) == Self.goAway(last: 7, code: 0x3))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func drainGoAwayAndGoAwayLookingDataAreLeftAlone() throws {
        let channel = try Self.guarded()
        // A DATA frame (header, then its payload as NIO writes it) whose payload is a GOAWAY's bytes.
        let body = Self.goAway(last: 1, code: 0x1)
        try channel.writeOutbound(ByteBuffer(bytes: Self.frame(0x0, stream: 1, body).prefix(9)))
        try channel.writeOutbound(ByteBuffer(bytes: body))
        try channel.writeOutbound(ByteBuffer(bytes: Self.goAway(last: 0x7FFF_FFFF, code: 0)))
        channel.embeddedEventLoop.run()
        #expect(channel.isActive)
        var written: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written += Array(buffer.readableBytesView) }
        #expect(written.suffix(17) == Self.goAway(last: 0x7FFF_FFFF, code: 0)[...])
        #expect(written.dropFirst(9).prefix(body.count) == body[...])
        _ = try channel.finish()
    }

    @Test func theFirstSettingsAdvertiseTheSoftStreamLimit() throws {
        let channel = try Self.guarded()
        let settings = Self.frame(0x4, [0, 3] + Self.u32(256) + [0, 4] + Self.u32(65535))
        try channel.writeOutbound(ByteBuffer(bytes: settings))
        try channel.writeOutbound(ByteBuffer(bytes: settings))
        let first = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(Array(first.readableBytesView) == Self.frame(0x4, [0, 3] + Self.u32(128) + [0, 4] + Self.u32(65535)))
        let second = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(Array(second.readableBytesView) == settings, "only the preamble's SETTINGS")
        _ = try channel.finish()
    }

    @Test func aFloodOfWindowUpdatesEndsAtTheBudgetAndNothingPastItReachesNIO() throws {
        let channel = try Self.guarded()
        var events: [Any] = []
        try channel.pipeline.syncOperations.addHandler(EventCollector { events.append($0) })
        var flood = Self.preface
        for _ in 0..<(HTTP2FrameBudget.capacity + 500) { flood += Self.windowUpdate() }
        try channel.writeInbound(ByteBuffer(bytes: flood))
        for _ in 0..<10 { channel.embeddedEventLoop.advanceTime(by: .milliseconds(1)) }
        let forwarded = try Self.readAll(channel)
        #expect(forwarded.count == 24 + HTTP2FrameBudget.capacity * 13)
        #expect(events.contains { $0 is HTTP2AbuseEvent })
    }

    @Test func oneConnectionHandsNIOABoundedShareOfFramesPerTurnAndHoldsItsReads() throws {
        let channel = try Self.guarded()
        var flood = Self.preface
        for _ in 0..<1_500 { flood += Self.windowUpdate() }
        let reads = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(reads, position: .first)
        try channel.writeInbound(ByteBuffer(bytes: flood))
        let first = try Self.readAll(channel)
        #expect(first.count == 24 + HTTP2FrameGuard.maxFramesPerTurn * 13)
        channel.read()
        #expect(reads.count == 0, "no socket read while input is held")
        channel.embeddedEventLoop.run()
        #expect(try Self.readAll(channel).isEmpty, "nothing more in the same turn")
        // Input that arrives meanwhile waits behind the held input.
        try channel.writeInbound(ByteBuffer(bytes: Self.windowUpdate(stream: 0, 7)))
        #expect(try Self.readAll(channel).isEmpty)
        for _ in 0..<4 { channel.embeddedEventLoop.advanceTime(by: HTTP2FrameGuard.resumeDelay) }
        let rest = try Self.readAll(channel)
        #expect(first + rest == flood + Self.windowUpdate(stream: 0, 7), "the rest, in order, on later turns")
        #expect(reads.count == 1, "the held read goes out once the input is gone")
        _ = try channel.finish()
    }

    @Test func streamClosedForHeadersOnAHalfClosedStream() throws {
        let state = HTTP2ConnectionState(now: .now())
        state.lastStreamID = 1
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTP2ConnectionGuard(state: state))
        // Pier's own write on such a stream (no RST from NIO just before): nothing.
        channel.pipeline.fireErrorCaught(NIOHTTP2Errors.badStreamStateTransition(from: .halfClosedRemoteLocalIdle))
        #expect(try channel.readOutbound(as: HTTP2Frame.self) == nil)
        state.lastReset = (1, 0x1)
        channel.pipeline.fireErrorCaught(NIOHTTP2Errors.badStreamStateTransition(from: .halfClosedRemoteLocalIdle))
        let frame = try #require(try channel.readOutbound(as: HTTP2Frame.self))
        guard case .goAway(let last, let code, _) = frame.payload else {
            Issue.record("expected GOAWAY, got \(frame)")
            return
        }
        #expect(last == 1 && code == .streamClosed)
        _ = try channel.finish()
    }

    @Test func refusedStreamIsResetWithRefusedStream() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.pipeline.syncOperations.addHandler(HTTP2StreamRefuser())
        let frame = try #require(try channel.readOutbound(as: HTTP2Frame.FramePayload.self))
        guard case .rstStream(let code) = frame else {
            Issue.record("expected RST_STREAM, got \(frame)")
            return
        }
        #expect(code == .refusedStream)
        #expect(try channel.readOutbound(as: HTTP2Frame.FramePayload.self) == nil, "once")
        _ = try channel.finish()
    }
}

/// Collects inbound user events.
final class EventCollector: ChannelInboundHandler {
    typealias InboundIn = Never
    let onEvent: (Any) -> Void
    init(_ onEvent: @escaping (Any) -> Void) { self.onEvent = onEvent }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) { onEvent(event) }
}

/// Counts the reads that reach the socket.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = Never
    var count = 0
    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}
