import HTTP1Codec
import NIOCore
import NIOHTTP1

/// The upstream side of an HTTP/1.1 connection in one handler: request parts in, bytes out; upstream bytes
/// in, response parts out (heads parsed in place by `HTTP1HeadParser`, as strictly as requests; bodies as
/// slices). Replaces NIO's request encoder, response decoder and `HeadWatcher` on pooled connections.
///
/// Owned by the connection's event loop. A response that breaks the grammar or is framed ambiguously, bytes
/// nobody asked for, and a connection closed inside a message are errors: the connection is never reused,
/// the exchange gets its 502. Interim responses (1xx but 101) come up as heads without an end, as NIO's
/// decoder does with `.forward`; after a 101, bytes are held for the tunnel.
final class HTTP1ClientCodecHandler: ChannelDuplexHandler, RemovableChannelHandler, HeadTiming {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = UpstreamResponsePart
    typealias OutboundIn = UpstreamRequestPart
    typealias OutboundOut = IOData

    private enum Inbound {
        /// No request outstanding: any byte is unsolicited.
        case idle
        case head
        case body
        /// After a 101: bytes belong to the tunnel.
        case switched
        case failed
    }

    private var state = Inbound.idle
    private var parser: HTTP1HeadParser
    private var body = HTTP1BodyReader(.none)
    private var pending = HTTP1InboundBytes()
    private var context: ChannelHandlerContext?
    /// Requests sent and not answered yet.
    private var unanswered = HEADQueue()
    private var writer = HTTP1BodyWriter()
    private var clock = HeadClock(waiting: false)

    /// NIO's response decoder's default head limit.
    static let maxHeadBytes = 80 * 1024

    /// The handler right above (`UpstreamHandler`), which takes parts straight from this one rather than boxed
    /// by NIO's pipeline. Cleared when either leaves the pipeline.
    var receiver: UpstreamHandler?

    private let scratch: HeadFieldsScratch

    init(maxHeadBytes: Int = HTTP1ClientCodecHandler.maxHeadBytes, scratch: HeadFieldsScratch = HeadFieldsScratch()) {
        parser = HTTP1HeadParser(role: .response, maxHeadBytes: maxHeadBytes)
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
        guard case .switched = state else { return nil }
        return pending.take()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        clock.bytesArrived()
        switch state {
        case .failed:
            return
        case .idle:
            return fail(context, HTTP1ParseError(.unsolicited, "the upstream sent bytes no request asked for"))
        default:
            break
        }
        pending.append(&buffer)
        do throws(HTTP1ParseError) {
            while self.context != nil, pending.bytes != nil, try step(context) {}
        } catch {
            return fail(context, error)
        }
        pending.settle()
    }

    /// Passes a part on: straight to the receiver, or through the pipeline.
    @inline(__always)
    private func deliver(_ context: ChannelHandlerContext, _ part: UpstreamResponsePart) {
        if let receiver { receiver.received(part, context: context) } else { context.fireChannelRead(wrapInboundOut(part)) }
    }

    private func fail(_ context: ChannelHandlerContext, _ error: HTTP1ParseError) {
        state = .failed
        pending.bytes = nil
        context.fireErrorCaught(error)
    }

    private func step(_ context: ChannelHandlerContext) throws(HTTP1ParseError) -> Bool {
        switch state {
        case .idle:
            if pending.bytes!.readableBytes > 0 { throw HTTP1ParseError(.unsolicited, "the upstream sent bytes after its response") }
            return false
        case .head:
            guard let head = try parser.parse(&pending.bytes!, fields: &scratch.fields) else { return false }
            let response = ResponseHead(parsed: head)
            if head.status < 200, head.status != 101 {
                deliver(context, .head(response))
                return true
            }
            let wasHEAD = unanswered.popFirst()
            if head.status == 101 {
                // The head and its end, as NIO's decoder gives them; what follows is the tunnel's.
                state = .switched
                deliver(context, .head(response))
                if self.context != nil { deliver(context, .end(nil)) }
                return false
            }
            state = .body
            body = HTTP1BodyReader(wasHEAD ? .none : head.framing)
            deliver(context, .head(response))
            return true
        case .body:
            switch try body.next(&pending.bytes!) {
            case .needMore:
                return false
            case .data(let slice):
                deliver(context, .body(slice))
            case .end(let trailers):
                state = unanswered.count > 0 ? .head : .idle
                deliver(context, .end(try trailers?.headers()))
            }
            return true
        case .switched, .failed:
            return false
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .body where body.endsAtClose:
            state = .idle
            deliver(context, .end(nil))
        case .body:
            fail(context, HTTP1ParseError(.truncated, "the upstream closed the connection inside a response body"))
        case .head where parser.inProgress || pending.bytes != nil:
            fail(context, HTTP1ParseError(.truncated, "the upstream closed the connection inside a response head"))
        default:
            break
        }
        context.fireChannelInactive()
    }

    // MARK: - Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        write(unwrapOutboundIn(data), context: context, promise: promise)
    }

    /// Writes a request part straight from `UpstreamConnection`, without NIO's boxing.
    func write(_ part: UpstreamRequestPart, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        write(part, context: context, promise: promise)
    }

    private func write(_ part: UpstreamRequestPart, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        switch part {
        case .head(.encoded(let head)):
            unanswered.append(isHEAD: head.isHEAD)
            if case .idle = state { state = .head }
            writer.chunked = head.chunked
            context.write(wrapOutboundOut(.byteBuffer(head.bytes)), promise: promise)
        case .head(.nio(let head)):
            unanswered.append(isHEAD: head.method == .HEAD)
            if case .idle = state { state = .head }
            writer.chunked = HTTP1HeadWriter.isChunked(head.headers)
            var buffer = context.channel.allocator.buffer(capacity: HTTP1HeadWriter.size(of: head))
            HTTP1HeadWriter.write(head, into: &buffer)
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        case .body(let part):
            writer.body(part, context: context, promise: promise)
        case .end(let trailers):
            writer.end(trailers, context: context, promise: promise)
        }
    }
}
