import NIOCore
import NIOHTTP2

/// Finds the HTTP/2 frame headers in a byte stream that arrives in pieces, without reading payloads: the
/// 9-byte header (24-bit length, type, flags, 31-bit stream id) and where the payload starts. It stays in
/// step with NIO's decoder because both read the same lengths from the same bytes; when NIO rejects a
/// length it ends the connection, so a desync after that does not matter.
///
/// A value type with no IO; owned by one `HTTP2FrameGuard`.
struct HTTP2FrameWalker {
    struct Header: Equatable {
        var length: Int
        var type: UInt8
        var flags: UInt8
        var stream: UInt32
    }

    enum Decision { case take, stop }

    /// Bytes still to pass over: the client preface first, then each frame's payload.
    private var skip: Int
    /// The bytes of a header split across pieces.
    private var partial: [UInt8] = []

    /// `preface`: bytes before the first frame (the client's 24-byte preface inbound; none outbound).
    init(preface: Int) {
        skip = preface
    }

    /// Walks `buffer`'s readable bytes. For each frame header that completes in it, calls `visit` with the
    /// header and the index of its payload in `buffer` (possibly `writerIndex`: the payload is in a later
    /// piece). `visit` may answer `.stop` for a header that starts in `buffer`: the walk ends before that
    /// header, which will be visited again when the bytes from the returned index are walked. Returns that
    /// index, or nil when the whole buffer was walked.
    mutating func walk(_ buffer: ByteBuffer, _ visit: (Header, Int) -> Decision) -> Int? {
        var index = buffer.readerIndex
        let end = buffer.writerIndex
        while index < end {
            if skip > 0 {
                let n = min(skip, end - index)
                skip -= n
                index += n
                continue
            }
            if partial.isEmpty, end - index >= 9 {
                let header = Self.header(buffer, at: index)
                if visit(header, index + 9) == .stop { return index }
                index += 9
                skip = header.length
                continue
            }
            // A header cut by the end of a piece: gathered, then visited where it completes (never stopped).
            let n = min(9 - partial.count, end - index)
            partial += buffer.getBytes(at: index, length: n) ?? []
            index += n
            guard partial.count == 9 else { return nil }
            let header = Self.header(ByteBuffer(bytes: partial), at: 0)
            partial.removeAll(keepingCapacity: true)
            _ = visit(header, index)
            skip = header.length
        }
        return nil
    }

    private static func header(_ buffer: ByteBuffer, at index: Int) -> Header {
        let length = Int(buffer.getInteger(at: index, as: UInt16.self)!) << 8 | Int(buffer.getInteger(at: index + 2, as: UInt8.self)!)
        return Header(length: length, type: buffer.getInteger(at: index + 3)!, flags: buffer.getInteger(at: index + 4)!,
                      stream: buffer.getInteger(at: index + 5, as: UInt32.self)! & 0x7FFF_FFFF)
    }
}

/// What a client may spend on frames that cost Pier work but carry nothing (WINDOW_UPDATE, PING, SETTINGS,
/// PRIORITY, RST_STREAM, GOAWAY, empty DATA or CONTINUATION, unknown types): a token bucket. NIO bounds
/// some of them (resets, pings and settings, empty DATA in a row) but not WINDOW_UPDATE, GOAWAY or unknown
/// types; this bounds them all. Legitimate control traffic earns tokens: a client acknowledges data with
/// window updates (credit per DATA frame Pier sends), opens streams (credit per stream), pings now and then
/// (credit per second).
struct HTTP2FrameBudget {
    static let capacity = 2_000
    static let creditPerDataFrameSent = 4
    static let creditPerStream = 8
    static let creditPerSecond = 20

    private(set) var tokens = capacity
    private var refilledAt: NIODeadline

    init(now: NIODeadline) {
        refilledAt = now
    }

    mutating func credit(_ n: Int) {
        tokens = min(Self.capacity, tokens + n)
    }

    /// Adds the tokens earned by time (once per read, not per frame).
    mutating func refill(now: NIODeadline) {
        let seconds = (now - refilledAt).nanoseconds / 1_000_000_000
        guard seconds > 0 else { return }
        credit(Int(min(seconds, 1_000)) * Self.creditPerSecond)
        refilledAt = refilledAt + .seconds(seconds)
    }

    /// Spends the cost of a frame with `header`; false once the bucket is empty.
    mutating func charge(_ header: HTTP2FrameWalker.Header) -> Bool {
        let cost: Int
        switch header.type {
        case 0x0: cost = header.length == 0 && header.flags & 0x1 == 0 ? 1 : 0  // DATA: empty, not ending the stream
        case 0x1: cost = 0  // HEADERS: a stream, bounded by NIO's limits
        case 0x9: cost = header.length == 0 ? 1 : 0  // CONTINUATION
        case 0x6: cost = header.flags & 0x1 == 0 ? 2 : 1  // PING: Pier answers each one
        default: cost = 1  // PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, GOAWAY, WINDOW_UPDATE, unknown types
        }
        tokens -= cost
        return tokens >= 0
    }
}

/// What the handlers of one HTTP/2 connection share: the streams Pier took on and the frame budget.
/// Owned by the connection's event loop.
final class HTTP2ConnectionState {
    /// The highest client stream Pier handed to a proxy handler (the last-stream-id of its GOAWAYs).
    var lastStreamID: UInt32 = 0
    /// Streams open in NIO's state machine (`HTTP2StreamCounter`); the stream being set up is not counted yet.
    var openStreams = 0
    var budget: HTTP2FrameBudget
    /// The last RST_STREAM Pier wrote (stream, error code), for `HTTP2ConnectionGuard` to tell what NIO just did.
    var lastReset: (stream: UInt32, code: UInt32)?

    init(now: NIODeadline = .now()) {
        budget = HTTP2FrameBudget(now: now)
    }
}

/// Sent up the pipeline when a client ran out of frame budget: `HTTP2ConnectionGuard` ends the connection
/// with GOAWAY ENHANCE_YOUR_CALM.
struct HTTP2AbuseEvent {}

/// Sits between TLS and NIO's HTTP/2 handler and watches the frames both ways by their headers:
///
/// - **Outbound**, every GOAWAY NIO writes with an error code ends the connection (RFC 9113 §5.4.1), whatever
///   error NIO raised — NIO writes it and reports the error down the pipeline, but leaves the socket open, and
///   reports stream errors with the same error types, so only the GOAWAY tells them apart. Its last-stream-id
///   (NIO writes 2^31−1, or 0 after abuse) becomes the last stream Pier processed, so that a client knows which
///   requests it may retry. The advertised SETTINGS_MAX_CONCURRENT_STREAMS becomes the soft limit
///   (`HTTP2Downstream.maxConcurrentStreams`) while NIO enforces the hard one, so that Pier refuses extra
///   streams one by one (REFUSED_STREAM) instead of NIO failing the whole connection.
/// - **Inbound**, frames that carry nothing are charged to the connection's `HTTP2FrameBudget` before NIO
///   spends anything on them (past it: `HTTP2AbuseEvent`), and one connection hands NIO at most
///   `maxFramesPerTurn` frames or `maxBytesPerTurn` bytes at a time: the rest waits until the loop has
///   polled its sockets again (`resumeDelay`), and the socket is not read meanwhile, so that a flood cannot
///   starve the other connections of its event loop.
///
/// It never parses payloads (but the 8 fixed bytes of a GOAWAY and the settings of the first SETTINGS it
/// rewrites). Owned by the connection's event loop.
final class HTTP2FrameGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    static let maxFramesPerTurn = 512
    static let maxBytesPerTurn = 512 * 1024

    private let state: HTTP2ConnectionState
    private let advertisedStreams: UInt32
    private let enforcedStreams: UInt32
    private var inbound = HTTP2FrameWalker(preface: 24)
    private var outbound = HTTP2FrameWalker(preface: 0)
    private var settingsSent = false
    private var closing = false
    /// Input not yet given to NIO (over this turn's share), and whether a socket read waits for it to go.
    private var held: ByteBuffer?
    private var readPending = false
    private var resumeScheduled = false
    private var forwarded = false

    init(state: HTTP2ConnectionState, advertisedStreams: Int, enforcedStreams: Int) {
        self.state = state
        self.advertisedStreams = UInt32(advertisedStreams)
        self.enforcedStreams = UInt32(enforcedStreams)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if closing { return }
        let buffer = unwrapInboundIn(data)
        if held != nil {
            // Its turn is over: what comes now waits behind what waits already.
            held!.writeImmutableBuffer(buffer)
            return
        }
        deliver(context, buffer)
    }

    /// Gives NIO this turn's share of `buffer`, up to a frame boundary; holds the rest for a later turn.
    private func deliver(_ context: ChannelHandlerContext, _ buffer: ByteBuffer) {
        var buffer = buffer
        state.budget.refill(now: .now())
        var frames = 0
        var exhausted = false
        let start = buffer.readerIndex
        let cut = inbound.walk(buffer) { [self] header, payload in
            if frames >= Self.maxFramesPerTurn || payload - 9 - start >= Self.maxBytesPerTurn { return .stop }
            frames += 1
            if !state.budget.charge(header) {
                exhausted = true
                return .stop
            }
            return .take
        }
        if let cut, cut > buffer.readerIndex, let now = buffer.readSlice(length: cut - buffer.readerIndex) {
            forward(context, now)
        } else if cut == nil, !exhausted {
            return forward(context, buffer)
        }
        if exhausted {
            // The frame past the budget and everything after it never reach NIO (but for the start of a frame
            // header cut by the end of an earlier read, which NIO holds unparsed).
            closing = true
            release(context)
            context.fireUserInboundEventTriggered(HTTP2AbuseEvent())
            return
        }
        held = buffer
        scheduleResume(context)
    }

    private func forward(_ context: ChannelHandlerContext, _ buffer: ByteBuffer) {
        forwarded = true
        context.fireChannelRead(wrapInboundOut(buffer))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard forwarded else { return }
        forwarded = false
        context.fireChannelReadComplete()
    }

    /// The rest goes in a later turn of the loop. NIO runs the tasks a task submits in the same turn, before
    /// any socket: a task scheduled a little ahead lets the loop poll its sockets first, unless its turn runs
    /// past that already (then the rest goes after the turn's other tasks).
    private func scheduleResume(_ context: ChannelHandlerContext) {
        guard !resumeScheduled else { return }
        resumeScheduled = true
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.resumeDelay) { [self] in
            resumeScheduled = false
            guard !closing, let rest = held else { return release(context) }
            held = nil
            deliver(context, rest)
            channelReadComplete(context: context)
            if held == nil { release(context) }
        }
    }

    static let resumeDelay: TimeAmount = .microseconds(50)

    /// Nothing is held any more: a socket read that waited for it goes out.
    private func release(_ context: ChannelHandlerContext) {
        held = nil
        guard readPending else { return }
        readPending = false
        if !closing { context.read() }
    }

    /// No socket reads while input waits: the flood stays in the client's socket, not in Pier's memory.
    func read(context: ChannelHandlerContext) {
        if held != nil { readPending = true } else { context.read() }
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .byteBuffer(var buffer) = unwrapOutboundIn(data) else {
            // File regions: NIO's HTTP/2 handler writes none for Pier (responses are ByteBuffers).
            return context.write(data, promise: promise)
        }
        var edits: [(index: Int, value: UInt32)] = []
        var goingAway = false
        _ = outbound.walk(buffer) { [self] header, payload in
            let whole = payload + header.length <= buffer.writerIndex
            switch header.type {
            case 0x0:
                state.budget.credit(HTTP2FrameBudget.creditPerDataFrameSent)
            case 0x3 where whole && header.length >= 4:
                state.lastReset = (header.stream, buffer.getInteger(at: payload, as: UInt32.self)!)
            case 0x4 where !settingsSent && header.flags & 0x1 == 0 && whole:
                // The preamble's SETTINGS: NIO's first frame. Advertise the soft stream limit.
                settingsSent = true
                for entry in stride(from: payload, to: payload + header.length - 5, by: 6)
                where buffer.getInteger(at: entry, as: UInt16.self) == 0x3 && buffer.getInteger(at: entry + 2, as: UInt32.self) == enforcedStreams {
                    edits.append((entry + 2, advertisedStreams))
                }
            case 0x7 where whole && header.length >= 8:
                guard buffer.getInteger(at: payload + 4, as: UInt32.self) != 0 else { break }  // NO_ERROR: a drain
                goingAway = true
                edits.append((payload, state.lastStreamID))
            default:
                break
            }
            return .take
        }
        for edit in edits { buffer.setInteger(edit.value, at: edit.index) }
        context.write(wrapOutboundOut(edits.isEmpty ? unwrapOutboundIn(data) : .byteBuffer(buffer)), promise: promise)
        if goingAway { closeAfterThisTurn(context) }
    }

    /// After the GOAWAY has been flushed (NIO flushes it in the same turn; a close flushes what the flush
    /// coalescer holds). Input is dropped from now on.
    private func closeAfterThisTurn(_ context: ChannelHandlerContext) {
        if closingScheduled { return }
        closingScheduled = true
        closing = true
        held = nil
        context.eventLoop.assumeIsolated().execute {
            context.channel.close(promise: nil)
        }
    }

    private var closingScheduled = false

    func handlerRemoved(context: ChannelHandlerContext) {
        held = nil
    }
}
