import Logging
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import RouteModel

/// HTTP/2 on a terminated TLS connection: NIO's HTTP/2 handler with Pier's limits, and per stream an
/// `HTTP2StreamHandler` (frames to request parts and response parts to frames) in front of the same
/// `HTTPProxyHandler` that serves HTTP/1.1, so that every request is routed, limited and forwarded the same
/// way whatever the client spoke.
enum HTTP2Downstream {
    /// Concurrent streams a client may open (nginx's default is 128): advertised, and enforced by Pier, which
    /// refuses a stream past it (REFUSED_STREAM) and serves the others.
    static let maxConcurrentStreams = 128
    /// The limit NIO's handler enforces (past it, a connection error): room for streams Pier refuses one by one.
    /// `HTTP2FrameGuard` advertises `maxConcurrentStreams` in its place.
    static let hardStreamLimit = 256

    /// Adds the HTTP/2 handlers to `channel`. Must run on the channel's event loop.
    static func configure(channel: Channel, tables: RouteTableBox, loop: LoopState, accessLogger: Logger, downstream: Downstream) throws {
        let settings = tables.current.settings
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: hardStreamLimit),
            HTTP2Setting(parameter: .maxHeaderListSize, value: settings.maxHeaderSize),
            HTTP2Setting(parameter: .initialWindowSize, value: 65535),
        ]
        // Limits against abuse, set explicitly rather than inherited: at most 200 resets (rapid reset,
        // CVE-2023-44487), 200 stream errors and 200 control frames a client provokes per 30 s, 200 stream
        // errors over the connection's life ("glitches"), and a bounded queue of control frames it does not read.
        // Past any of them the connection ends with GOAWAY ENHANCE_YOUR_CALM (HTTP2LimitsTests).
        connection.maximumBufferedControlFrames = 1000
        connection.maximumConnectionGlitches = 200
        connection.controlFrameRateLimit.maximumCount = 200
        connection.controlFrameRateLimit.windowLength = .seconds(30)
        connection.maximumSequentialContinuationFrames = 5
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.streamResetFrameRateLimit.maximumCount = 200
        stream.streamResetFrameRateLimit.windowLength = .seconds(30)
        stream.streamErrorRateLimit.maximumCount = 200
        stream.streamErrorRateLimit.windowLength = .seconds(30)
        // NIO's connection manager: closes a connection idle (no open stream) for the keep-alive timeout, and
        // on graceful shutdown sends GOAWAY and closes once the open streams are done.
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(maxIdleTime: TimeAmount(settings.keepaliveTimeout), maxAge: nil, maxGraceTime: nil, keepalive: nil))
        var perStream = downstream
        perStream.multiplexed = true
        perStream.clientIP = channel.remoteAddress?.ipText
        if perStream.port == nil { perStream.port = channel.localAddress?.port }
        let streamDownstream = perStream
        let state = HTTP2ConnectionState()
        // Between TLS and NIO's handler: added before it.
        try channel.pipeline.syncOperations.addHandler(
            HTTP2FrameGuard(state: state, advertisedStreams: maxConcurrentStreams, enforcedStreams: hardStreamLimit))
        let boundState = NIOLoopBound(state, eventLoop: channel.eventLoop)
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: stream,
            streamDelegate: HTTP2StreamCounter(state: boundState, next: manager.http2StreamDelegate)
        ) { streamChannel in
            streamChannel.eventLoop.makeCompletedFuture {
                let state = boundState.value
                if state.openStreams >= maxConcurrentStreams {
                    state.budget.credit(-HTTP2FrameBudget.creditPerStream)
                    try streamChannel.pipeline.syncOperations.addHandler(HTTP2StreamRefuser())
                    return
                }
                state.budget.credit(HTTP2FrameBudget.creditPerStream)
                if let id = try? streamChannel.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID) {
                    state.lastStreamID = max(state.lastStreamID, UInt32(Int(id)))
                }
                loop.countHTTP2Stream(streamChannel)
                let edge = HTTP2StreamHandler()
                // A malformed head (a Host that contradicts :authority) is reset by Pier, which NIO's stream
                // error limits do not see: the stream's credit is taken back, and as much again charged.
                edge.onMalformed = { state.budget.credit(-2 * HTTP2FrameBudget.creditPerStream) }
                let proxy = HTTPProxyHandler(tables: tables, loop: loop, accessLogger: accessLogger, downstream: streamDownstream, http2Stream: edge)
                try streamChannel.pipeline.syncOperations.addHandler(edge)
                try streamChannel.pipeline.syncOperations.addHandler(proxy)
                edge.receiver = proxy
            }
        }
        try channel.pipeline.syncOperations.addHandler(manager)
        try channel.pipeline.syncOperations.addHandler(HTTP2ConnectionGuard(state: state))
        try channel.pipeline.syncOperations.addHandler(FlushCoalescingHandler(), position: .first)
    }
}

/// After NIO's HTTP/2 handler: ends the connection in the cases NIO leaves open or answers at the wrong
/// level, always through a GOAWAY that `HTTP2FrameGuard` sees and closes on.
///
/// - HEADERS on a half-closed (remote) stream: NIO resets that stream with PROTOCOL_ERROR, where RFC 9113
///   §5.1 wants STREAM_CLOSED; NIO writes its RST_STREAM before Pier hears of it. A client that does this has
///   lost track of its streams: Pier treats it as a connection error (§5.4 allows it) with GOAWAY
///   STREAM_CLOSED.
/// - A client past its frame budget (`HTTP2AbuseEvent`): GOAWAY ENHANCE_YOUR_CALM.
/// - The connection errors named in `endsConnection`, as a fallback should a GOAWAY not be written (NIO
///   buffers it while the socket is not writable): closed at the end of the turn.
///
/// Errors of one stream that NIO finds (a request head its validation refuses, a content-length mismatch)
/// reach here too, after NIO reset that stream; they leave the connection and its other streams be. (A head
/// only Pier refuses, a Host that contradicts :authority, is reset by `HTTP2StreamHandler` and charged to
/// the connection's frame budget instead.)
final class HTTP2ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let state: HTTP2ConnectionState

    init(state: HTTP2ConnectionState) {
        self.state = state
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let transition = error as? NIOHTTP2Errors.BadStreamStateTransition,
            transition.fromState == .halfClosedRemoteLocalIdle || transition.fromState == .halfClosedRemoteLocalActive,
            let reset = state.lastReset, reset.code == UInt32(HTTP2ErrorCode.protocolError.networkCode)
        {
            // NIO's answer to a frame the client sent (its RST_STREAM went out just now), not to Pier's writes.
            state.lastReset = nil
            return goAway(context, .streamClosed)
        }
        guard Self.endsConnection(error) else { return }
        context.eventLoop.assumeIsolated().execute {
            context.close(promise: nil)
        }
    }

    /// A reset NIO wrote during an earlier read is no answer to what comes next.
    func channelReadComplete(context: ChannelHandlerContext) {
        state.lastReset = nil
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is HTTP2AbuseEvent { return goAway(context, .enhanceYourCalm) }
        context.fireUserInboundEventTriggered(event)
    }

    private func goAway(_ context: ChannelHandlerContext, _ code: HTTP2ErrorCode) {
        let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: HTTP2StreamID(Int(state.lastStreamID)), errorCode: code, opaqueData: nil))
        // NIO refuses a GOAWAY after one with a lower last stream: then there is nothing left to say.
        context.writeAndFlush(wrapOutboundOut(frame)).assumeIsolated().whenFailure { _ in
            context.close(promise: nil)
        }
    }

    /// Whether NIO raises `error` only as a connection error that Pier answers by closing.
    static func endsConnection(_ error: Error) -> Bool {
        if error is any NIOHPACKError { return true }
        switch error {
        case is NIOHTTP2Errors.ExcessiveRSTFrames, is NIOHTTP2Errors.ExcessiveStreamErrors,
             is NIOHTTP2Errors.ExcessiveNumberOfGlitches, is NIOHTTP2Errors.ExcessiveControlFrames,
             is NIOHTTP2Errors.ExcessiveEmptyDataFrames, is NIOHTTP2Errors.ExcessiveContinuationFrames,
             is NIOHTTP2Errors.ExcessivelyLargeHeaderBlock, is NIOHTTP2Errors.ExcessiveOutboundFrameBuffering,
             is NIOHTTP2Errors.BadClientMagic, is NIOHTTP2Errors.MissingPreface, is NIOHTTP2Errors.ReceivedBadSettings,
             is NIOHTTP2Errors.InvalidSetting, is NIOHTTP2Errors.UnableToParseFrame, is NIOHTTP2Errors.MaxStreamsViolation:
            return true
        default:
            return false
        }
    }
}

/// Counts the streams open in NIO's state machine (`HTTP2ConnectionState.openStreams`) and passes the events on
/// to NIO's connection manager. NIO calls it as it opens and closes streams, on the connection's event loop;
/// stream channels close later, after the read that reset them, so their closing is no count of what is open.
struct HTTP2StreamCounter: NIOHTTP2StreamDelegate {
    let state: NIOLoopBound<HTTP2ConnectionState>
    let next: any NIOHTTP2StreamDelegate

    func streamCreated(_ id: HTTP2StreamID, channel: Channel) {
        state.value.openStreams += 1
        next.streamCreated(id, channel: channel)
    }

    func streamClosed(_ id: HTTP2StreamID, channel: Channel) {
        state.value.openStreams -= 1
        next.streamClosed(id, channel: channel)
    }
}

/// A stream past `HTTP2Downstream.maxConcurrentStreams`: RST_STREAM REFUSED_STREAM (RFC 9113 §5.1.2; the
/// client knows nothing was processed and may retry), nothing read. The connection and its other streams go on.
final class HTTP2StreamRefuser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private var refused = false

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func refuse(_ context: ChannelHandlerContext) {
        guard !refused else { return }
        refused = true
        context.writeAndFlush(wrapOutboundOut(.rstStream(.refusedStream)), promise: nil)
    }
}

/// Holds an HTTP/2 connection's socket flushes until the event loop has handled every socket that was ready
/// together, then flushes once. Responses of several streams of one connection are often ready in the same
/// loop turn (their upstream reads arrive together): each flushes its stream, and NIO's HTTP/2 handler
/// passes every stream flush down to TLS and the socket — one `write` system call per response. Held here,
/// below TLS, they leave as one `writev`. The flush runs as a task of the same loop turn, right after its
/// I/O: nothing waits for a timer, and a flush never stays pending past the turn.
final class FlushCoalescingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var pending = false

    func flush(context: ChannelHandlerContext) {
        if pending { return }
        pending = true
        context.eventLoop.assumeIsolated().execute { [self] in
            // Not pending: a close flushed first, or the handler is gone.
            guard pending else { return }
            pending = false
            context.flush()
        }
    }

    /// What is written before a close leaves before it (a GOAWAY, TLS close_notify).
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if pending {
            pending = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pending = false
    }
}
