import NIOCore

/// Decodes the chunked transfer coding (RFC 9112 §7.1) in place: data comes out as slices of the buffer it
/// arrived in, never copied; sizes, extensions and trailers are checked strictly. A value: no IO.
///
/// Refused: a size that is not 1–16 hex digits or overflows, whitespace around it, an extension that is not
/// `;name[=token|quoted-string]`, a chunk line over `maxLineBytes`, data not followed by CRLF, trailer
/// fields that break the field grammar or exceed `maxTrailerBytes`.
public struct ChunkedDecoder: Sendable {
    /// What came out of the bytes given.
    public enum Output: Sendable {
        /// Data of the body (a slice of the input).
        case data(ByteBuffer)
        /// The last chunk and the trailer section: the body is complete. `trailers` holds the trailer
        /// section's field lines as a head (nil when there are none).
        case end(trailers: HTTP1Head?)
        /// Everything given was consumed; more bytes are needed.
        case needMore
    }

    private enum State: Sendable {
        case size
        case data(remaining: Int64)
        case dataCRLF
        case trailers
    }

    private var state = State.size
    private var trailerParser: HTTP1HeadParser
    public let maxLineBytes: Int

    public init(maxLineBytes: Int = 4096, maxTrailerBytes: Int = 16 * 1024) {
        self.maxLineBytes = maxLineBytes
        self.trailerParser = HTTP1HeadParser(role: .trailers, maxHeadBytes: maxTrailerBytes)
    }

    /// Reads from `buffer` up to the next piece of output.
    public mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Output {
        while true {
            switch state {
            case .size:
                guard let (size, lineLength) = try Self.sizeLine(buffer, maxLineBytes: maxLineBytes) else { return .needMore }
                buffer.moveReaderIndex(forwardBy: lineLength)
                state = size == 0 ? .trailers : .data(remaining: size)
            case .data(let remaining):
                guard buffer.readableBytes > 0 else { return .needMore }
                let n = Int(min(remaining, Int64(buffer.readableBytes)))
                let slice = buffer.readSlice(length: n)!
                state = remaining == Int64(n) ? .dataCRLF : .data(remaining: remaining - Int64(n))
                return .data(slice)
            case .dataCRLF:
                guard buffer.readableBytes >= 2 else {
                    if buffer.readableBytes == 1, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) != 0x0D {
                        throw .malformed("chunk data not followed by CRLF")
                    }
                    return .needMore
                }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw .malformed("chunk data not followed by CRLF") }
                state = .size
            case .trailers:
                // The trailer section is a head without a start line: an empty one is just CRLF.
                guard let trailers = try trailerParser.parse(&buffer) else { return .needMore }
                state = .size
                return .end(trailers: trailers.fields.isEmpty ? nil : trailers)
            }
        }
    }

    /// `chunk-size [ chunk-ext ] CRLF`: the size and the line's length, or nil while the line is incomplete.
    static func sizeLine(_ buffer: ByteBuffer, maxLineBytes: Int) throws(HTTP1ParseError) -> (Int64, Int)? {
        let result: Result<(Int64, Int)?, HTTP1ParseError> = buffer.withUnsafeReadableBytes { p in
            let n = p.count
            var i = 0
            var size: Int64 = 0
            while i < n, let digit = ByteClass.hexValue(p[i]) {
                if i == 16 { return .failure(.malformed("chunk size too large")) }
                size = size << 4 | Int64(digit)
                i += 1
            }
            if i == n { return n > maxLineBytes ? .failure(.malformed("chunk line too long")) : .success(nil) }
            guard i > 0, size >= 0 else { return .failure(.malformed("invalid chunk size")) }
            // Extensions: `;name[=value]`, no whitespace; Pier reads past them (they are not forwarded).
            while i < n, p[i] == 0x3B {
                i += 1
                let nameStart = i
                while i < n, ByteClass.isTokenByte(p[i]) { i += 1 }
                if i == n { break }
                guard i > nameStart else { return .failure(.malformed("invalid chunk extension")) }
                guard p[i] == 0x3D else { continue }
                i += 1
                if i < n, p[i] == 0x22 {
                    i += 1
                    var closed = false
                    while i < n {
                        let c = p[i]
                        if c == 0x22 { closed = true; i += 1; break }
                        if c == 0x5C {
                            i += 1
                            if i < n, !ByteClass.isFieldValueByte(p[i]) { return .failure(.malformed("invalid chunk extension")) }
                        } else if !ByteClass.isFieldValueByte(c) {
                            return .failure(.malformed("invalid chunk extension"))
                        }
                        i += 1
                    }
                    if !closed { break }
                } else {
                    let valueStart = i
                    while i < n, ByteClass.isTokenByte(p[i]) { i += 1 }
                    if i == n { break }
                    guard i > valueStart else { return .failure(.malformed("invalid chunk extension")) }
                }
            }
            if i >= n - 1 {
                if i == n - 1, p[i] != 0x0D { return .failure(.malformed("invalid chunk line")) }
                return i > maxLineBytes ? .failure(.malformed("chunk line too long")) : .success(nil)
            }
            guard p[i] == 0x0D, p[i + 1] == 0x0A else { return .failure(.malformed("invalid chunk line")) }
            if i + 2 > maxLineBytes { return .failure(.malformed("chunk line too long")) }
            return .success((size, i + 2))
        }
        return try result.get()
    }
}
