import HTTP1Codec
import NIOCore
import NIOHTTP1

/// Takes request parts straight from `HTTP1ServerCodecHandler`.
protocol DownstreamPartReceiver: AnyObject {
    func received(_ part: DownstreamRequestPart)
}

/// The downstream side of an HTTP/1.1 connection in one handler: client bytes in, request parts out (heads
/// parsed in place by `HTTP1HeadParser`, bodies passed on as slices of the buffers they arrived in); response
/// parts in, bytes out. Replaces NIO's request decoder, response encoder and `HeadWatcher`.
///
/// Owned by the connection's event loop. Strict: the first malformed byte ends parsing for good (the error
/// goes up the pipeline, `HTTPProxyHandler` answers 400/431 and closes); nothing after it is passed on. It
/// does not route, validate semantics or answer anything itself.
final class HTTP1ServerCodecHandler: ChannelDuplexHandler, RemovableChannelHandler, HeadTiming {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = DownstreamRequestPart
    typealias OutboundIn = DownstreamResponsePart
    typealias OutboundOut = IOData

    private enum Inbound {
        /// Waiting for (or reading) a request head.
        case head
        /// In a request body.
        case body
        /// After a request that asked to switch protocols: bytes are held until the answer says whether
        /// the connection stays HTTP (then parsing resumes) or becomes a tunnel (then they go to it).
        case upgradePending
        /// After a parse error: everything is dropped.
        case failed
    }

    private var state = Inbound.head
    private var parser: HTTP1HeadParser
    private var body = HTTP1BodyReader(.none)
    private var pending = HTTP1InboundBytes()
    private var context: ChannelHandlerContext?
    private var processing = false
    /// The request being read asked to switch protocols: after its end, parsing waits for the answer.
    private var upgradeRequested = false
    /// Requests passed on and not answered yet.
    private var unanswered = HEADQueue()
    /// At most this many requests are parsed ahead of their answers (pipelining); then parsing waits.
    private static let maxUnanswered = 32
    /// Bytes held unparsed (behind 32 unanswered requests, or after an upgrade request) past which the client's
    /// reads wait too: a client that pipelines without end, or streams behind an upgrade, costs this much.
    static let maxHeldBytes = 64 * 1024
    private var readHeld = false
    private var writer = HTTP1BodyWriter()
    private var suppressBody = false
    private var clock = HeadClock(waiting: true)

    /// The handler right above, when it takes parts straight from this one (`HTTPProxyHandler`): NIO's
    /// pipeline would box every part in an `NIOAny` (a heap allocation each, since a part is larger than an
    /// existential's inline buffer). Cleared when either leaves the pipeline.
    var receiver: DownstreamPartReceiver?

    private let scratch: HeadFieldsScratch

    init(maxHeadBytes: Int, scratch: HeadFieldsScratch = HeadFieldsScratch()) {
        parser = HTTP1HeadParser(role: .request, maxHeadBytes: maxHeadBytes)
        self.scratch = scratch
    }

    // MARK: - HeadTiming

    var headStart: NIODeadline? { clock.start }
    func awaitHead() { clock.awaitHead() }
    func headReceived() { clock.headReceived() }

    // MARK: - Inbound

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        receiver = nil
        pending.bytes = nil
    }

    /// The bytes that arrived after the switch of protocols, for the tunnel (`HTTPTunnel`), which passes them
    /// on once every HTTP handler has left both pipelines; nil when there are none or there was no switch.
    func takeHeldBytes() -> ByteBuffer? {
        guard case .upgradePending = state else { return nil }
        return pending.take()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        clock.bytesArrived()
        if case .failed = state { return }
        pending.append(&buffer)
        process(context)
    }

    func read(context: ChannelHandlerContext) {
        if holdsTooMuch {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Whether bytes wait that parsing cannot take now, more than `maxHeldBytes` of them.
    private var holdsTooMuch: Bool {
        guard let bytes = pending.bytes, bytes.readableBytes >= Self.maxHeldBytes else { return false }
        switch state {
        case .upgradePending: return true
        case .head: return unanswered.count >= Self.maxUnanswered
        case .body, .failed: return false
        }
    }

    /// Passes a part on: straight to the receiver, or through the pipeline.
    @inline(__always)
    private func deliver(_ context: ChannelHandlerContext, _ part: DownstreamRequestPart) {
        if let receiver { receiver.received(part) } else { context.fireChannelRead(wrapInboundOut(part)) }
    }

    /// Parses what is pending and passes on every part it completes.
    private func process(_ context: ChannelHandlerContext) {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        do throws(HTTP1ParseError) {
            while self.context != nil, pending.bytes != nil, try step(context) {}
        } catch {
            state = .failed
            pending.bytes = nil
            context.fireErrorCaught(error)
            return
        }
        pending.settle()
    }

    /// One part, if the pending bytes complete one; false when more bytes are needed.
    private func step(_ context: ChannelHandlerContext) throws(HTTP1ParseError) -> Bool {
        switch state {
        case .head:
            guard unanswered.count < Self.maxUnanswered, let head = try parser.parse(&pending.bytes!, fields: &scratch.fields) else { return false }
            let request = RequestHead(parsed: head)
            unanswered.append(isHEAD: request.method == .HEAD)
            upgradeRequested = head.upgrade
            body = HTTP1BodyReader(head.framing)
            state = .body
            deliver(context, .head(request))
            return true
        case .body:
            switch try body.next(&pending.bytes!) {
            case .needMore:
                return false
            case .data(let slice):
                deliver(context, .body(slice))
            case .end(let trailers):
                state = upgradeRequested ? .upgradePending : .head
                deliver(context, .end(try trailers?.headers()))
            }
            return true
        case .upgradePending, .failed:
            return false
        }
    }

    // MARK: - Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        write(unwrapOutboundIn(data), context: context, promise: promise)
    }

    /// Writes a response part: from the pipeline, or straight from the handler above (`HTTPProxyHandler`).
    func write(_ part: DownstreamResponsePart, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        write(part, context: context, promise: promise)
    }

    private func write(_ part: DownstreamResponsePart, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        switch part {
        case .head(.encoded(let head)):
            if head.status >= 200 || head.status == 101 { responseStarted(head.status) }
            writer.chunked = !suppressBody && head.chunked
            context.write(wrapOutboundOut(.byteBuffer(head.bytes)), promise: promise)
        case .head(.nio(let head)):
            let code = Int(head.status.code)
            if code >= 200 || code == 101 { responseStarted(code) }
            writer.chunked = !suppressBody && head.version.minor == 1 && HTTP1HeadWriter.isChunked(head.headers)
            var buffer = context.channel.allocator.buffer(capacity: HTTP1HeadWriter.size(of: head))
            HTTP1HeadWriter.write(head, into: &buffer)
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        case .head(.http2):
            promise?.fail(EncodedHeadError())
        case .body(let part):
            if suppressBody {
                promise?.fail(NIOHTTPResponseEncoderError.responseBodyNotAllowed)
            } else {
                writer.body(part, context: context, promise: promise)
            }
        case .end(let trailers):
            suppressBody = false
            writer.end(trailers, context: context, promise: promise)
        }
    }

    /// A final answer to the oldest unanswered request starts (an answer to a request never passed on, a
    /// 400 for a malformed one, has a body).
    private func responseStarted(_ code: Int) {
        let wasFull = unanswered.count == Self.maxUnanswered
        suppressBody = unanswered.popFirst()
        guard let context else { return }
        if case .upgradePending = state, code != 101 {
            // The switch was refused: the connection stays HTTP/1.1, and what the client sent next is a request.
            state = .head
            resumeLater(context)
        } else if wasFull, case .head = state, pending.bytes != nil {
            resumeLater(context)
        }
    }

    /// Parses what is pending once the current call stack (a write from `HTTPProxyHandler`) has returned.
    private func resumeLater(_ context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().execute { [self] in
            guard let context = self.context else { return }
            process(context)
            context.fireChannelReadComplete()
            if readHeld, !holdsTooMuch {
                readHeld = false
                context.read()
            }
        }
    }
}
