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
    typealias InboundOut = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = IOData

    private enum Inbound {
        /// No request outstanding: any byte is unsolicited.
        case idle
        case head
        case body(remaining: Int64)
        case chunked
        /// A body delimited by the connection's close.
        case untilClose
        /// After a 101: bytes belong to the tunnel.
        case switched
        case failed
    }

    private var state = Inbound.idle
    private var parser: HTTP1HeadParser
    private var chunked = ChunkedDecoder()
    private var pending: ByteBuffer?
    private var context: ChannelHandlerContext?
    /// Requests sent and not answered yet, oldest in bit 0: whether each was HEAD.
    private var headRequests: UInt64 = 0
    private var unanswered = 0
    private var requestChunked = false

    private(set) var headStart: NIODeadline?
    private var waitingForHead = false

    /// NIO's response decoder's default head limit.
    static let maxHeadBytes = 80 * 1024

    init(maxHeadBytes: Int = HTTP1ClientCodecHandler.maxHeadBytes) {
        parser = HTTP1HeadParser(role: .response, maxHeadBytes: maxHeadBytes)
    }

    func awaitHead() {
        waitingForHead = true
        headStart = nil
    }

    func headReceived() {
        waitingForHead = false
        headStart = nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        // Leaving for a tunnel: what the upstream sent right behind its 101 belongs to the tunnel.
        if case .switched = state, let pending, pending.readableBytes > 0 {
            self.pending = nil
            context.fireChannelRead(NIOAny(pending))
        }
        pending = nil
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if waitingForHead {
            waitingForHead = false
            headStart = .now()
        }
        switch state {
        case .failed:
            return
        case .idle:
            return fail(context, HTTP1ParseError(.unsolicited, "the upstream sent bytes no request asked for"))
        default:
            break
        }
        if pending == nil {
            pending = buffer
        } else {
            pending!.writeBuffer(&buffer)
        }
        do throws(HTTP1ParseError) {
            while self.context != nil, pending != nil, try step(context) {}
        } catch {
            return fail(context, error)
        }
        if let buffer = pending {
            if buffer.readableBytes == 0 {
                pending = nil
            } else if buffer.readerIndex > 4096 {
                pending!.discardReadBytes()
            }
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ error: HTTP1ParseError) {
        state = .failed
        pending = nil
        context.fireErrorCaught(error)
    }

    private func step(_ context: ChannelHandlerContext) throws(HTTP1ParseError) -> Bool {
        switch state {
        case .idle:
            guard pending!.readableBytes == 0 else {
                throw HTTP1ParseError(.unsolicited, "the upstream sent bytes after its response")
            }
            return false
        case .head:
            guard let head = try parser.parse(&pending!) else { return false }
            let response = head.responseHead()
            if head.status < 200, head.status != 101 {
                context.fireChannelRead(wrapInboundOut(.head(response)))
                return true
            }
            let wasHEAD = headRequests & 1 == 1
            headRequests >>= 1
            unanswered -= 1
            context.fireChannelRead(wrapInboundOut(.head(response)))
            if head.status == 101 {
                state = .switched
                return false
            }
            switch wasHEAD ? .none : head.framing {
            case .length(let length) where length > 0:
                state = .body(remaining: length)
            case .chunked:
                chunked = ChunkedDecoder()
                state = .chunked
            case .untilClose:
                state = .untilClose
            case .none, .length:
                messageEnded(context, trailers: nil)
            }
            return true
        case .body(let remaining):
            guard pending!.readableBytes > 0 else { return false }
            let n = Int(min(remaining, Int64(pending!.readableBytes)))
            let slice = pending!.readSlice(length: n)!
            context.fireChannelRead(wrapInboundOut(.body(slice)))
            if remaining == Int64(n) {
                messageEnded(context, trailers: nil)
            } else {
                state = .body(remaining: remaining - Int64(n))
            }
            return true
        case .chunked:
            switch try chunked.next(&pending!) {
            case .needMore:
                return false
            case .data(let slice):
                context.fireChannelRead(wrapInboundOut(.body(slice)))
            case .end(let trailers):
                messageEnded(context, trailers: trailers?.headers())
            }
            return true
        case .untilClose:
            guard pending!.readableBytes > 0 else { return false }
            context.fireChannelRead(wrapInboundOut(.body(pending!)))
            pending = nil
            return false
        case .switched, .failed:
            return false
        }
    }

    private func messageEnded(_ context: ChannelHandlerContext, trailers: HTTPHeaders?) {
        state = unanswered > 0 ? .head : .idle
        context.fireChannelRead(wrapInboundOut(.end(trailers)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .untilClose:
            state = .idle
            context.fireChannelRead(wrapInboundOut(.end(nil)))
        case .body, .chunked:
            fail(context, HTTP1ParseError(.truncated, "the upstream closed the connection inside a response body"))
        case .head where parser.inProgress || pending != nil:
            fail(context, HTTP1ParseError(.truncated, "the upstream closed the connection inside a response head"))
        default:
            break
        }
        context.fireChannelInactive()
    }

    // MARK: - Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            if head.method == .HEAD { headRequests |= 1 << UInt64(unanswered) }
            unanswered += 1
            if case .idle = state { state = .head }
            requestChunked = HTTP1HeadWriter.isChunked(head.headers)
            var buffer = context.channel.allocator.buffer(capacity: 256)
            HTTP1HeadWriter.write(head, into: &buffer)
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        case .body(let body):
            if requestChunked, body.readableBytes > 0 {
                context.write(wrapOutboundOut(.byteBuffer(HTTP1HeadWriter.chunkLine(body.readableBytes, allocator: context.channel.allocator))),
                              promise: nil)
                context.write(wrapOutboundOut(body), promise: nil)
                context.write(wrapOutboundOut(.byteBuffer(Self.crlf)), promise: promise)
            } else {
                context.write(wrapOutboundOut(body), promise: promise)
            }
        case .end(let trailers):
            if requestChunked {
                requestChunked = false
                var buffer: ByteBuffer
                if let trailers {
                    buffer = context.channel.allocator.buffer(capacity: 64)
                    buffer.writeStaticString("0\r\n")
                    HTTP1HeadWriter.write(trailers, into: &buffer)
                } else {
                    buffer = Self.lastChunk
                }
                context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
            } else if let promise {
                context.write(wrapOutboundOut(.byteBuffer(Self.empty)), promise: promise)
            }
        }
    }

    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
    private static let empty = ByteBuffer()
}
