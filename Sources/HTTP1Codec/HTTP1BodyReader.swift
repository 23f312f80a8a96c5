import NIOCore

/// Reads one message body under its framing (RFC 9112 §6.3): Content-Length, chunked, or until the
/// connection closes. Data comes out as slices of the buffer it arrived in. A value: no IO.
public struct HTTP1BodyReader: Sendable {
    private enum Mode: Sendable {
        case length(remaining: Int64)
        case chunked(ChunkedDecoder)
        case untilClose
    }

    private var mode: Mode

    /// A reader for a body framed as `framing` (`.none`: one that ends at once).
    public init(_ framing: HTTP1Framing) {
        switch framing {
        case .none: mode = .length(remaining: 0)
        case .length(let length): mode = .length(remaining: length)
        case .chunked: mode = .chunked(ChunkedDecoder())
        case .untilClose: mode = .untilClose
        }
    }

    /// Whether the body ends only when the connection closes.
    public var endsAtClose: Bool {
        if case .untilClose = mode { return true }
        return false
    }

    /// Reads from `buffer` up to the next piece of output. A body delimited by the close never ends here:
    /// its end is the connection's.
    public mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> ChunkedDecoder.Output {
        switch mode {
        case .length(let remaining):
            if remaining == 0 { return .end(trailers: nil) }
            guard buffer.readableBytes > 0 else { return .needMore }
            let n = Int(min(remaining, Int64(buffer.readableBytes)))
            mode = .length(remaining: remaining - Int64(n))
            return .data(buffer.readSlice(length: n)!)
        case .chunked(var decoder):
            // Out of `mode` while it changes, so that the decoder is not copied on write.
            mode = .untilClose
            defer { mode = .chunked(decoder) }
            return try decoder.next(&buffer)
        case .untilClose:
            guard buffer.readableBytes > 0 else { return .needMore }
            return .data(buffer.readSlice(length: buffer.readableBytes)!)
        }
    }
}
