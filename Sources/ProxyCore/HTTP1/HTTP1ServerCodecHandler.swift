import HTTP1Codec
import NIOCore
import NIOHTTP1

/// The downstream side of an HTTP/1.1 connection in one handler: client bytes in, request parts out (heads
/// parsed in place by `HTTP1HeadParser`, bodies passed on as slices of the buffers they arrived in); response
/// parts in, bytes out. Replaces NIO's request decoder, response encoder and `HeadWatcher`.
///
/// Owned by the connection's event loop. Strict: the first malformed byte ends parsing for good (the error
/// goes up the pipeline, `HTTPProxyHandler` answers 400/431 and closes); nothing after it is passed on. It
/// does not route, validate semantics or answer anything itself.
final class HTTP1ServerCodecHandler: ChannelDuplexHandler, RemovableChannelHandler, HeadTiming {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = IOData

    private enum Inbound {
        /// Waiting for (or reading) a request head.
        case head
        /// In a Content-Length body.
        case body(remaining: Int64)
        /// In a chunked body.
        case chunked
        /// After a request that asked to switch protocols: bytes are held until the answer says whether
        /// the connection stays HTTP (then parsing resumes) or becomes a tunnel (then they go to it).
        case upgradePending
        /// After a parse error: everything is dropped.
        case failed
    }

    private var state = Inbound.head
    private var parser: HTTP1HeadParser
    private var chunked = ChunkedDecoder()
    /// Bytes received and not parsed yet (nil when none: an idle connection holds no buffer).
    private var pending: ByteBuffer?
    private var context: ChannelHandlerContext?
    private var processing = false

    /// Requests passed on and not answered yet, oldest in bit 0: whether each was HEAD (its answer has no
    /// body whatever its head says).
    private var headRequests: UInt64 = 0
    private var unanswered = 0
    /// At most this many requests are parsed ahead of their answers (pipelining); then parsing waits.
    private static let maxUnanswered = 32
    /// The request being read asked to switch protocols: after its end, parsing waits for the answer.
    private var upgradeRequested = false
    private var responseChunked = false
    private var suppressBody = false

    /// `HeadTiming`: when the first byte of the awaited request head arrived.
    private(set) var headStart: NIODeadline?
    private var waitingForHead = true

    init(maxHeadBytes: Int) {
        parser = HTTP1HeadParser(role: .request, maxHeadBytes: maxHeadBytes)
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
        // Leaving for a tunnel: what the client sent after its upgrade request belongs to the tunnel.
        if case .upgradePending = state, let pending, pending.readableBytes > 0 {
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
        default:
            break
        }
        if pending == nil {
            pending = buffer
        } else {
            pending!.writeBuffer(&buffer)
        }
        process(context)
    }

    /// Parses what is pending and passes on every part it completes.
    private func process(_ context: ChannelHandlerContext) {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        do throws(HTTP1ParseError) {
            while self.context != nil, pending != nil, try step(context) {}
        } catch {
            state = .failed
            pending = nil
            context.fireErrorCaught(error)
            return
        }
        if let buffer = pending {
            if buffer.readableBytes == 0 {
                pending = nil
            } else if buffer.readerIndex > 4096 {
                pending!.discardReadBytes()
            }
        }
    }

    /// One part, if the pending bytes complete one; false when more bytes are needed.
    private func step(_ context: ChannelHandlerContext) throws(HTTP1ParseError) -> Bool {
        switch state {
        case .head:
            guard unanswered < Self.maxUnanswered else { return false }
            guard let head = try parser.parse(&pending!) else { return false }
            let request = head.requestHead()
            if request.method == .HEAD { headRequests |= 1 << UInt64(unanswered) }
            unanswered += 1
            upgradeRequested = head.upgrade
            context.fireChannelRead(wrapInboundOut(.head(request)))
            switch head.framing {
            case .length(let length):
                state = .body(remaining: length)
            case .chunked:
                chunked = ChunkedDecoder()
                state = .chunked
            case .none, .untilClose:
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
        case .upgradePending, .failed:
            return false
        }
    }

    private func messageEnded(_ context: ChannelHandlerContext, trailers: HTTPHeaders?) {
        state = upgradeRequested ? .upgradePending : .head
        context.fireChannelRead(wrapInboundOut(.end(trailers)))
    }

    // MARK: - Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            let code = head.status.code
            if code >= 200 || code == 101 { responseStarted(Int(code)) }
            responseChunked = !suppressBody && head.version.minor == 1 && HTTP1HeadWriter.isChunked(head.headers)
            var buffer = context.channel.allocator.buffer(capacity: 256)
            HTTP1HeadWriter.write(head, into: &buffer)
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        case .body(let body):
            if suppressBody {
                promise?.fail(NIOHTTPResponseEncoderError.responseBodyNotAllowed)
            } else if responseChunked, body.readableBytes > 0 {
                context.write(wrapOutboundOut(.byteBuffer(HTTP1HeadWriter.chunkLine(body.readableBytes, allocator: context.channel.allocator))),
                              promise: nil)
                context.write(wrapOutboundOut(body), promise: nil)
                context.write(wrapOutboundOut(.byteBuffer(Self.crlf)), promise: promise)
            } else {
                context.write(wrapOutboundOut(body), promise: promise)
            }
        case .end(let trailers):
            suppressBody = false
            if responseChunked {
                responseChunked = false
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
                // Nothing to write, but the promise must complete in order with the writes before it.
                context.write(wrapOutboundOut(.byteBuffer(Self.empty)), promise: promise)
            }
        }
    }

    /// A final answer to the oldest unanswered request starts.
    private func responseStarted(_ code: Int) {
        if unanswered > 0 {
            suppressBody = headRequests & 1 == 1
            headRequests >>= 1
            unanswered -= 1
        } else {
            // An answer to no parsed request (a 400 for a malformed one): it has a body.
            suppressBody = false
        }
        guard let context else { return }
        if case .upgradePending = state, code != 101 {
            // The switch was refused: the connection stays HTTP/1.1, and what the client sent next is a request.
            state = .head
            resumeLater(context)
        } else if unanswered == Self.maxUnanswered - 1, case .head = state, pending != nil {
            resumeLater(context)
        }
    }

    /// Parses what is pending once the current call stack (a write from `HTTPProxyHandler`) has returned.
    private func resumeLater(_ context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().execute { [self] in
            guard let context = self.context else { return }
            process(context)
            context.fireChannelReadComplete()
        }
    }

    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
    private static let empty = ByteBuffer()
}
