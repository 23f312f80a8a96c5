import Logging
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import RouteModel

/// HTTP/2 on a terminated TLS connection: NIO's HTTP/2 handler with Pier's limits, and per stream NIO's
/// HTTP/2 → HTTP/1 codec in front of the same `HTTPProxyHandler` that serves HTTP/1.1, so that every request
/// is routed, limited and forwarded the same way whatever the client spoke. Responses leave through
/// `HTTP2ResponseWriter`, below the codec.
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
        perStream.clientIP = channel.remoteAddress?.ipAddress
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
                let writer = HTTP2ResponseWriter()
                try streamChannel.pipeline.syncOperations.addHandler(writer)
                try streamChannel.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                let adapter = NIOServerPartAdapter()
                let proxy = HTTPProxyHandler(tables: tables, loop: loop, accessLogger: accessLogger, downstream: streamDownstream, http2Writer: writer)
                try streamChannel.pipeline.syncOperations.addHandler(adapter)
                try streamChannel.pipeline.syncOperations.addHandler(proxy)
                adapter.receiver = proxy
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
/// Errors of one stream (a malformed request head, a content-length mismatch) reach here too, after NIO reset
/// that stream; they leave the connection and its other streams be.
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

/// Writes a stream's response as HTTP/2 frames, in place of the outbound half of NIO's HTTP/2 → HTTP/1 codec
/// (whose inbound half still turns the request into HTTP/1 parts): `HTTPProxyHandler` hands its response parts
/// here, and this handler, first in the stream's pipeline, writes the frames below the codec.
///
/// What it does beyond the codec's conversion:
/// - the last frame carries END_STREAM: a response that ends in the same turn as its last body part is a
///   HEADERS and a DATA frame, not HEADERS, DATA and an empty DATA (a bodiless one is one HEADERS frame);
/// - HPACK indexing per header: values that change with every response (`date`, `x-request-id`,
///   `x-upstream-response-time`) stay out of the connection's dynamic table — they would only evict useful
///   entries and make every lookup scan a table of dead ones (2–3 µs per response in a profile) — and
///   `set-cookie` is never indexed (RFC 7541 §7.1.3: secrets must not be guessable through compression);
/// - names lowercased (RFC 9113 §8.2.1) and connection-specific headers dropped (§8.2.2) in the same pass.
///
/// A part is held until the next one or a flush, so that the end can ride on it; a flush writes what is held.
/// (So the stream channel's writability, which `HTTPProxyHandler` checks after each body part, counts the part
/// before the last: backpressure acts one upstream read later, which stays bounded.)
final class HTTP2ResponseWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private var context: ChannelHandlerContext?
    private var held: (payload: HTTP2Frame.FramePayload, promise: EventLoopPromise<Void>?)?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        held?.promise?.fail(ChannelError.ioOnClosedChannel)
        held = nil
    }

    /// A frame from above (none today): after what is held, to keep the order.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        writeHeld(context)
        context.write(data, promise: promise)
    }

    /// Writes `part` of the response (held until the next part or a flush).
    func write(_ part: HTTPServerResponsePart, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch part {
        case .head(let head):
            let headers = Self.headers(head.headers, status: head.status.code)
            if head.status.code < 200 {
                // An interim response (100 Continue): a HEADERS frame of its own, not the stream's end.
                writeHeld(context)
                context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: promise)
            } else {
                hold(context, .headers(.init(headers: headers)), promise)
            }
        case .body(let body):
            hold(context, .data(.init(data: body)), promise)
        case .end(let trailers):
            if let trailers, !trailers.isEmpty {
                writeHeld(context)
                context.write(wrapOutboundOut(.headers(.init(headers: Self.headers(trailers, status: nil), endStream: true))), promise: promise)
                return
            }
            // END_STREAM rides on the held frame (HEADERS of a bodiless response, or the last DATA).
            switch held {
            case (.headers(var headers), let heldPromise)?:
                headers.endStream = true
                held = (.headers(headers), heldPromise)
            case (.data(var data), let heldPromise)?:
                data.endStream = true
                held = (.data(data), heldPromise)
            default:
                writeHeld(context)
                held = (.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)), nil)
            }
            if let promise {
                if let heldPromise = held?.promise { heldPromise.futureResult.cascade(to: promise) } else { held?.promise = promise }
            }
            writeHeld(context)
        }
    }

    func flush(context: ChannelHandlerContext) {
        writeHeld(context)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        writeHeld(context)
        context.close(mode: mode, promise: promise)
    }

    private func hold(_ context: ChannelHandlerContext, _ payload: HTTP2Frame.FramePayload, _ promise: EventLoopPromise<Void>?) {
        writeHeld(context)
        held = (payload, promise)
    }

    private func writeHeld(_ context: ChannelHandlerContext) {
        guard let (payload, promise) = held else { return }
        held = nil
        context.write(wrapOutboundOut(payload), promise: promise)
    }

    /// `headers` as an HTTP/2 header block: `:status` first when given, names in lower case, connection-specific
    /// headers left out, each with its indexing.
    static func headers(_ headers: HTTPHeaders, status: UInt?) -> HPACKHeaders {
        var out = HPACKHeaders()
        out.reserveCapacity(headers.count + 1)
        if let status { out.add(name: ":status", value: String(status)) }
        for (name, value) in headers {
            let kind = ForwardedHeaders.Name(name)
            if kind.isHopByHop { continue }
            let lower = lowercased(name)
            out.add(name: lower, value: value, indexing: indexing(lower))
        }
        return out
    }

    /// The indexing for a lowercase header `name`. By length first: most names are compared with nothing.
    @inline(__always)
    static func indexing(_ name: String) -> HPACKIndexing {
        switch name.utf8.count {
        case 4: return name == "date" ? .nonIndexable : .indexable
        case 10: return name == "set-cookie" ? .neverIndexed : .indexable
        case 12: return name == "x-request-id" ? .nonIndexable : .indexable
        case 24: return name == "x-upstream-response-time" ? .nonIndexable : .indexable
        default: return .indexable
        }
    }

    /// `name` in lower case: the same string when it already is (the names Pier adds), a literal for the names
    /// upstreams send most in mixed case (no allocation), else a lowercased copy.
    @inline(__always)
    static func lowercased(_ name: String) -> String {
        guard name.utf8.contains(where: { $0 &- 0x41 < 26 }) else { return name }
        return common(name) ?? name.lowercased()
    }

    /// The lower-case literal of a common response header name, by length first.
    static func common(_ name: String) -> String? {
        let n = name.utf8
        switch n.count {
        case 4:
            if n.equalsLowercase("date") { return "date" }
            if n.equalsLowercase("etag") { return "etag" }
            if n.equalsLowercase("vary") { return "vary" }
        case 6: if n.equalsLowercase("server") { return "server" }
        case 7: if n.equalsLowercase("expires") { return "expires" }
        case 8: if n.equalsLowercase("location") { return "location" }
        case 10: if n.equalsLowercase("set-cookie") { return "set-cookie" }
        case 12: if n.equalsLowercase("content-type") { return "content-type" }
        case 13:
            if n.equalsLowercase("last-modified") { return "last-modified" }
            if n.equalsLowercase("cache-control") { return "cache-control" }
            if n.equalsLowercase("accept-ranges") { return "accept-ranges" }
        case 14: if n.equalsLowercase("content-length") { return "content-length" }
        case 16: if n.equalsLowercase("content-encoding") { return "content-encoding" }
        default: break
        }
        return nil
    }
}
