import Logging
import NIOCore
import NIOHTTP1
import RouteModel

/// The last handler of a downstream HTTP/1.1 connection: reads the current route table snapshot once per
/// request, asks `HTTPProxyStateMachine` what to do with each event of either side, and does it: writes,
/// upstream connections from the event loop's pool, timers, backpressure, and the order of pipelined requests.
///
/// Owned by the connection's event loop; the upstream connections it uses live on the same loop. It does
/// not parse HTTP (its connection's codec does), decide anything about routing or HTTP semantics (the
/// planner and the state machine do), block or hop threads.
///
/// Split over three files: this one (downstream events, pipelining, actions), `+Upstream` (upstream events,
/// connections, retries, health reports, WebSocket tunnels) and `+Timers`. Members are internal so that those
/// extensions can reach them; nothing outside the handler uses them.
final class HTTPProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamConnectionDelegate, DownstreamPartReceiver {
    typealias InboundIn = DownstreamRequestPart
    typealias OutboundIn = DownstreamResponsePart
    typealias OutboundOut = DownstreamResponsePart

    let tables: RouteTableBox
    let loop: LoopState
    let accessLogger: Logger
    var downstream: Downstream
    var context: ChannelHandlerContext!
    var machine: HTTPProxyStateMachine
    var upstream: UpstreamConnection?
    private(set) var clientIP: String?
    /// One entry per connection in the loop's timer wheel, for whichever deadline comes first (keep-alive
    /// idle, upstream read, client body): deadlines move with every request, the entry is re-filed only when
    /// one moves earlier, so a busy keep-alive connection files almost nothing.
    var timer: LoopTimers.Handle?
    var timerDeadline: NIODeadline?
    var idleSince: NIODeadline?
    var idleTimeout: TimeAmount = .seconds(75)
    var headerTimeout: TimeAmount = .seconds(60)
    /// Notes the first byte of a request head (nil on HTTP/2 streams, whose heads arrive whole).
    let headWatcher: (any HeadTiming)?
    /// On an HTTP/2 stream, the stream's edge, where the response goes (as frames); nil on HTTP/1.1.
    let http2Stream: HTTP2StreamHandler?
    /// Pier's codec right below, which response parts go to straight (not boxed by the pipeline); nil on
    /// HTTP/2 streams and with `--http1-codec nio`.
    var codec: HTTP1ServerCodecHandler?
    var readDeadline: NIODeadline?
    var bodyDeadline: NIODeadline?
    var readsPaused = false {
        didSet { if readsPaused != oldValue { pausedSince = readsPaused ? .now() : nil } }
    }
    /// Since when Pier has held the client's reads (upstream connecting or not reading).
    var pausedSince: NIODeadline?
    var pendingRead = false
    /// Pipelined input that arrived while an exchange was still under way: requests are answered in order
    /// (RFC 9112 §9.3.2). Reads pause only when too much has queued, so the common case — no pipelining —
    /// never toggles the socket's read interest.
    // A plain array: empty, it allocates nothing, which matters for thousands of idle connections; it
    // holds at most `maxQueuedParts` entries when used.
    var queued: [QueuedInput] = []
    var queuedBytes = 0
    var queueFull = false
    var draining = false
    /// Writes not yet flushed on either side: a read burst's end flushes only a side that has some (a
    /// flush walks the whole pipeline even when there is nothing to send).
    var upstreamNeedsFlush = false
    var downstreamNeedsFlush = false
    /// Lingering close (RFC 9112 §9.6): since when the connection, answered and closed for output, reads and
    /// drops what is left of the client's request body; nil otherwise.
    var lingerStart: NIODeadline?
    var lingerLastRead = NIODeadline.uptimeNanoseconds(0)
    var lingerBytes = 0
    /// The last request's end arrived after its answer was decided, before the connection closed.
    var requestEndedWhileClosing = false
    /// The route index the current exchange matched in its table (-1: none), for its metrics.
    var matchedRoute = -1
    /// nginx's `lingering_time` and `lingering_timeout`, and a byte bound besides.
    static let lingerTime: TimeAmount = .seconds(30)
    static let lingerIdle: TimeAmount = .seconds(5)
    static let lingerMaxBytes = 64 * 1024 * 1024

    enum QueuedInput {
        case part(DownstreamRequestPart)
        case error(any Error)
    }

    private static let maxQueuedParts = 64
    private static let maxQueuedBytes = 64 * 1024

    init(tables: RouteTableBox, loop: LoopState, accessLogger: Logger, downstream: Downstream = .http,
         headWatcher: (any HeadTiming)? = nil, http2Stream: HTTP2StreamHandler? = nil) {
        self.headWatcher = headWatcher
        self.http2Stream = http2Stream
        self.tables = tables
        self.loop = loop
        self.accessLogger = accessLogger
        self.downstream = downstream
        // Pier's codec downstream takes response heads as bytes; HTTP/2 streams and NIO's encoder take NIO's type.
        self.machine = HTTPProxyStateMachine(encodesResponses: http2Stream == nil && loop.http1 == .pier,
                                             writesHeaderBlocks: http2Stream != nil)
    }

    // MARK: - Downstream channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { channelBecameActive(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The context holds this handler: keeping it would keep both, and the pipeline, after the channel.
        cancelTimer()
        codec?.receiver = nil
        codec = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        channelBecameActive(context)
        context.fireChannelActive()
    }

    func channelBecameActive(_ context: ChannelHandlerContext) {
        clientIP = downstream.clientIP ?? context.channel.remoteAddress?.ipText
        if downstream.port == nil { downstream.port = context.channel.localAddress?.port }
        if !downstream.multiplexed { armKeepAliveTimer(tables.current.settings) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received(unwrapInboundIn(data))
    }

    /// A request part, through the pipeline or straight from Pier's codec.
    func received(_ part: DownstreamRequestPart) {
        if lingerStart != nil { return lingered(part) }
        // The connection is closing once its last response is written: later input is not answered.
        if machine.closing, machine.exchange == nil {
            if case .end = part { requestEndedWhileClosing = true }
            return
        }
        if !queued.isEmpty || (machine.exchange != nil && part.isHead) {
            return enqueue(.part(part))
        }
        handle(part)
    }

    func handle(_ part: DownstreamRequestPart) {
        switch part {
        case .head(let head):
            idleSince = nil
            headWatcher?.headReceived()
            let recycled = loop.exchanges.take()
            let table = tables.current
            let requestID = head.first("x-request-id").flatMap { ForwardedHeaders.isValidRequestID($0) ? RequestID($0) : nil }
                ?? loop.makeRequestID()
            let now = NIODeadline.now()
            // Once per request: the planner and the exchange both need it, and it scans the headers.
            let upgrade = UpgradeRequest(head)
            var route = -1
            let encode = loop.http1 == .pier
            // A recycled buffer for the upstream head, handed over (a copy kept here would stop its reuse).
            let plan = RequestPlanner.plan(head, table: table, requestID: requestID, clientIP: clientIP, downstream: downstream,
                                           upgrade: upgrade, matchedRoute: &route, encodeHTTP1: encode,
                                           headBuffer: encode ? loop.headBuffers.take() : nil, strings: loop.strings) { pool, key in
                loop.pick(pool, in: table, affinityKey: key, now: now.uptimeNanoseconds)
            }
            matchedRoute = route
            run(machine.requestHead(head, upgrade: upgrade, plan: plan, table: table, requestID: requestID, now: now,
                                    recycled: recycled, strings: loop.strings))
            if let exchange = machine.exchange, !exchange.requestEnded { armBodyTimer(exchange.settings.clientBodyTimeout) }
        case .body(let buffer):
            run(machine.requestBody(buffer, now: .now()))
        case .end(let trailers):
            bodyDeadline = nil
            run(machine.requestEnd(trailers, now: .now()))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if upstreamNeedsFlush {
            upstreamNeedsFlush = false
            upstream?.flush()
        }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused || queueFull {
            pendingRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        upstream?.readsPaused = !context.channel.isWritable
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        readDeadline = nil
        bodyDeadline = nil
        idleSince = nil
        // The client left: an attached upstream connection is in an unknown state, never reuse it.
        dropUpstream()
        if let exchange = machine.downstreamClosed() { ended(exchange) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard DecodeError.isParseError(error), lingerStart == nil else {
            context.close(promise: nil)
            return
        }
        // Malformed input: nothing of it reaches an upstream. After pipelined requests still waiting, it
        // waits its turn too, so that their answers come first.
        // An error in the current request (its body) is answered at once; one after a complete request
        // belongs to a pipelined request and waits its turn.
        if !queued.isEmpty || (machine.exchange?.requestEnded ?? false) {
            return enqueue(.error(error))
        }
        run(machine.parserError(error, settings: tables.current.settings))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: an idle connection closes now, a busy one after its current response.
            if (machine.isIdle && queued.isEmpty) || (machine.exchange?.responseEnded ?? false) || lingerStart != nil {
                // Idle, or only reading and dropping the body of a request already answered.
                context.close(promise: nil)
            } else {
                machine.quiesce()
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Pipelining

    func enqueue(_ input: QueuedInput) {
        queued.append(input)
        if case .part(.body(let buffer)) = input { queuedBytes += buffer.readableBytes }
        if queued.count > Self.maxQueuedParts || queuedBytes > Self.maxQueuedBytes { queueFull = true }
    }

    /// Hands queued input over, in order, while no exchange is under way.
    func drainQueue() {
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while let next = queued.first, !machine.closing {
            if case .part(let part) = next, part.isHead, machine.exchange != nil { break }
            if case .error = next, machine.exchange != nil { break }
            queued.removeFirst()
            switch next {
            case .part(let part):
                if case .body(let buffer) = part { queuedBytes -= buffer.readableBytes }
                handle(part)
            case .error(let error):
                run(machine.parserError(error, settings: tables.current.settings))
            }
        }
        if queueFull, queued.count <= Self.maxQueuedParts / 2, queuedBytes <= Self.maxQueuedBytes / 2 {
            queueFull = false
            if !readsPaused, pendingRead {
                pendingRead = false
                context.read()
            }
        }
    }

    // MARK: - Actions

    func run(_ action: HTTPProxyStateMachine.Action) {
        switch action {
        case .none:
            break
        case .answer(let answer):
            if answer.dropUpstream { dropUpstream() }
            readDeadline = nil
            if let finished = answer.finished { finish(finished) }
            resumeReads()
            writeLocal(answer)
            if answer.keepAlive { drainQueue() }
            if answer.finished == nil, let exchange = machine.exchange, !exchange.requestEnded {
                armBodyTimer(answer.settings.clientBodyTimeout)
            }
        case .acquireUpstream(let endpoint, let sendContinue):
            if sendContinue {
                sendAndFlush(.head(.nio(HTTPResponseHead(version: .http1_1, status: .continue))))
            }
            acquire(endpoint, fresh: false)
        case .retry(let endpoint, let fresh, let drop):
            if drop { dropUpstream() }
            readDeadline = nil
            acquire(endpoint, fresh: fresh)
        case .sendRequest(let head, let parts, let armReadTimer):
            guard let upstream else { return }
            upstream.write(.head(head), flush: false)
            for part in parts { upstream.write(part, flush: false) }
            upstream.flush()
            if armReadTimer { self.armReadTimer() }
        case .forwardBody(let buffer):
            upstream?.write(.body(.byteBuffer(buffer)), flush: false)
            upstreamNeedsFlush = true
        case .forwardEnd(let trailers):
            upstream?.write(.end(trailers), flush: true)
            armReadTimer()
        case .writeResponseHead(let head):
            send(.head(head))
            downstreamNeedsFlush = true
            // Reused once the socket has written it (`HeadBufferPool`).
            loop.headBuffers.giveBack(head)
        case .writeResponseBody(let buffer):
            send(.body(.byteBuffer(buffer)))
            downstreamNeedsFlush = true
            if !context.channel.isWritable { upstream?.readsPaused = true }
        case .writeResponseEnd(let trailers, let releaseUpstream, let close, let finished):
            if releaseUpstream { releaseUpstreamToPool(finished.settings) } else { dropUpstream() }
            // Finish first: writing `.end` lets the pipelining assistant hand over the next request at once.
            finish(finished)
            downstreamNeedsFlush = false
            if close {
                let requestPending = !finished.requestEnded
                sendAndFlushed(.end(trailers)).assumeIsolated().whenComplete { [self] _ in
                    closeAfterResponse(requestPending: requestPending)
                }
            } else {
                sendAndFlush(.end(trailers))
                drainQueue()
            }
        case .abort(let finished):
            dropUpstream()
            readDeadline = nil
            bodyDeadline = nil
            if let finished { ended(finished) }
            context.close(promise: nil)
        case .rescheduleReadTimer(let delay):
            readDeadline = .now() + delay
            ensureTimer(readDeadline!)
        case .rescheduleBodyTimer(let delay):
            bodyDeadline = .now() + delay
            ensureTimer(bodyDeadline!)
        case .finished(let exchange):
            finish(exchange)
            drainQueue()
        case .startTunnel(let head, let finished):
            startTunnel(head, finished: finished)
        }
    }

    /// Writes a response part to the client: through NIO's HTTP/1 encoder, or as HTTP/2 frames.
    @inline(__always)
    func send(_ part: DownstreamResponsePart, promise: EventLoopPromise<Void>? = nil) {
        if let codec {
            codec.write(part, promise: promise)
        } else if let http2Stream {
            // The machine writes header blocks (`writesHeaderBlocks`), Pier's own answers NIO heads.
            http2Stream.write(part, promise: promise)
        } else {
            context.write(wrapOutboundOut(part), promise: promise)
        }
    }

    func sendAndFlush(_ part: DownstreamResponsePart) {
        send(part)
        context.flush()
    }

    /// `sendAndFlush`, with a future for when the part is written.
    func sendAndFlushed(_ part: DownstreamResponsePart) -> EventLoopFuture<Void> {
        let promise = context.eventLoop.makePromise(of: Void.self)
        send(part, promise: promise)
        context.flush()
        return promise.futureResult
    }

    func resumeReads() {
        if readsPaused { machine.clientReadsResumed(now: .now()) }
        readsPaused = false
        if pendingRead, !queueFull {
            pendingRead = false
            context.read()
        }
    }

    func writeLocal(_ answer: HTTPProxyStateMachine.Answer) {
        let hide = answer.settings.hideInfoHeaders
        let head = answer.response.head(version: answer.version, keepAlive: answer.keepAlive, requestID: hide ? nil : answer.requestID?.description,
                                        proxyID: hide ? nil : answer.settings.proxyID, serverInfo: hide ? nil : PierVersion.serverInfo)
        send(.head(.nio(head)))
        if !answer.headRequest {
            var body = context.channel.allocator.buffer(capacity: answer.response.body.utf8.count)
            body.writeString(answer.response.body)
            send(.body(.byteBuffer(body)))
        }
        if answer.keepAlive {
            sendAndFlush(.end(nil))
        } else {
            let requestPending = answer.requestPending
            sendAndFlushed(.end(nil)).assumeIsolated().whenComplete { [self] _ in
                closeAfterResponse(requestPending: requestPending)
            }
        }
    }

    // MARK: - Lingering close

    /// Closes the connection after its last response. When the client may still be sending the request's
    /// body, closing at once would reset the connection under it, and a reset can destroy the response before
    /// the client reads it (RFC 9112 §9.6). So: close for output (the client sees the response end, then EOF),
    /// read and drop what it still sends, and close once its request ends, it goes quiet for `lingerIdle`,
    /// `lingerTime` has passed or `lingerMaxBytes` were dropped. HTTP/2 streams have RST_STREAM for this.
    func closeAfterResponse(requestPending: Bool) {
        guard let context else { return }
        guard requestPending, !requestEndedWhileClosing, !downstream.multiplexed, context.channel.isActive else {
            return context.close(promise: nil)
        }
        let now = NIODeadline.now()
        lingerStart = now
        lingerLastRead = now
        readDeadline = nil
        bodyDeadline = nil
        idleSince = nil
        queued.removeAll()
        queuedBytes = 0
        queueFull = false
        context.close(mode: .output, promise: nil)
        resumeReads()
        ensureTimer(now + Self.lingerIdle)
    }

    /// A part of the request body that arrived while lingering: dropped.
    func lingered(_ part: DownstreamRequestPart) {
        lingerLastRead = .now()
        switch part {
        case .head:
            // A pipelined request behind the body: the client is done with its upload.
            context.close(promise: nil)
        case .body(let buffer):
            lingerBytes += buffer.readableBytes
            if lingerBytes > Self.lingerMaxBytes { context.close(promise: nil) }
        case .end:
            context.close(promise: nil)
        }
    }

    /// Logs a finished exchange and, when the connection stays, starts the keep-alive timer.
    func finish(_ exchange: HTTPExchange) {
        bodyDeadline = nil
        ended(exchange)
        // The exchange's own snapshot: no second read of the route table box per request.
        if machine.isIdle { armKeepAliveTimer(exchange.settings) }
    }

}

extension HTTPPart {
    fileprivate var isHead: Bool {
        if case .head = self { return true }
        return false
    }
}
