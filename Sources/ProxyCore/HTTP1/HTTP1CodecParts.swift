import HTTP1Codec
import NIOCore
import NIOHTTP1

/// Bytes a codec handler received and has not parsed yet: nil when there are none, so that an idle
/// connection holds no buffer.
struct HTTP1InboundBytes {
    var bytes: ByteBuffer?

    /// Adds a read: the common case (nothing pending) keeps the read's buffer as it is, without a copy.
    mutating func append(_ buffer: inout ByteBuffer) {
        if bytes == nil {
            bytes = buffer
        } else {
            bytes!.writeBuffer(&buffer)
        }
    }

    /// After parsing: drops an empty buffer, and the parsed front of one a partial message is waiting in.
    mutating func settle() {
        guard let buffer = bytes else { return }
        if buffer.readableBytes == 0 {
            bytes = nil
        } else if buffer.readerIndex > 4096 {
            bytes!.discardReadBytes()
        }
    }

    /// Takes what is left (for a tunnel, when the codec leaves the pipeline).
    mutating func take() -> ByteBuffer? {
        defer { bytes = nil }
        guard let bytes, bytes.readableBytes > 0 else { return nil }
        return bytes
    }
}

/// `HeadTiming`'s state: when the first byte of an awaited head arrived (one clock read per message).
struct HeadClock {
    private(set) var start: NIODeadline?
    private var waiting: Bool

    init(waiting: Bool) {
        self.waiting = waiting
    }

    mutating func bytesArrived() {
        if waiting {
            waiting = false
            start = .now()
        }
    }

    mutating func awaitHead() {
        waiting = true
        start = nil
    }

    mutating func headReceived() {
        waiting = false
        start = nil
    }
}

/// Writes the body of an outgoing message as it is, or chunked (RFC 9112 §7.1) when its head said so.
/// Framing headers are Pier's to state (`ForwardedHeaders`); this only follows them.
struct HTTP1BodyWriter {
    /// The message being written is chunked.
    var chunked = false

    func body(_ body: IOData, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard chunked, body.readableBytes > 0 else {
            return context.write(NIOAny(body), promise: promise)
        }
        var line = context.channel.allocator.buffer(capacity: 18)
        line.writeString(String(body.readableBytes, radix: 16))
        line.writeStaticString("\r\n")
        context.write(NIOAny(IOData.byteBuffer(line)), promise: nil)
        context.write(NIOAny(body), promise: nil)
        context.write(NIOAny(IOData.byteBuffer(Self.crlf)), promise: promise)
    }

    mutating func end(_ trailers: HTTPHeaders?, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard chunked else {
            // Nothing to write, but a promise must complete in order with the writes before it.
            if let promise { context.write(NIOAny(IOData.byteBuffer(Self.empty)), promise: promise) }
            return
        }
        chunked = false
        var last = Self.lastChunk
        if let trailers {
            last = context.channel.allocator.buffer(capacity: 64)
            last.writeStaticString("0\r\n")
            HTTP1HeadWriter.write(trailers, into: &last)
        }
        context.write(NIOAny(IOData.byteBuffer(last)), promise: promise)
    }

    private static let crlf = ByteBuffer(string: "\r\n")
    private static let lastChunk = ByteBuffer(string: "0\r\n\r\n")
    private static let empty = ByteBuffer()
}

/// Whether each message of a queue of requests (oldest first, at most 64) was HEAD: its answer has no body
/// whatever its head says.
struct HEADQueue {
    private var bits: UInt64 = 0
    private(set) var count = 0

    mutating func append(isHEAD: Bool) {
        precondition(count < 64, "more than 64 unanswered requests")
        if isHEAD { bits |= 1 << UInt64(count) }
        count += 1
    }

    /// The oldest request's flag, removed; false when the queue is empty.
    mutating func popFirst() -> Bool {
        guard count > 0 else { return false }
        let first = bits & 1 == 1
        bits >>= 1
        count -= 1
        return first
    }
}
