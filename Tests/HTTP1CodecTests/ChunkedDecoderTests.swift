import HTTP1Codec
import NIOCore
import Testing

/// The chunked decoder: data comes out as slices, whatever the cuts; sizes, extensions, CRLFs and trailers
/// are checked.
struct ChunkedDecoderTests {
    /// Decodes `bytes` fed in pieces of `step` bytes: the body, the trailers' text, whether it ended.
    static func decode(_ bytes: [UInt8], step: Int) throws(HTTP1ParseError) -> (body: [UInt8], trailers: [String], ended: Bool) {
        var decoder = ChunkedDecoder()
        var buffer = ByteBuffer()
        var body: [UInt8] = []
        var trailers: [String] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + step)
            buffer.writeBytes(bytes[offset..<end])
            offset = end
            loop: while true {
                switch try decoder.next(&buffer) {
                case .needMore:
                    break loop
                case .data(let slice):
                    body += slice.readableBytesView
                case .end(let head):
                    trailers = head.map { h in h.fields.map { "\(h.name($0))=\(h.value($0))" } } ?? []
                    return (body, trailers, true)
                }
            }
        }
        return (body, trailers, false)
    }

    @Test func chunksWithExtensionsAndTrailersInEveryCut() throws {
        let text = "5;name=value;q=\"a \\\" b\"\r\nhello\r\n1A\r\n" + String(repeating: "x", count: 26) + "\r\n0\r\nX-Sum: 1\r\nX-B:  two \r\n\r\n"
        for step in 1...12 {
            let result = try Self.decode(Array(text.utf8), step: step)
            #expect(result.ended, "step \(step)")
            #expect(result.body == Array(("hello" + String(repeating: "x", count: 26)).utf8), "step \(step)")
            #expect(result.trailers == ["X-Sum=1", "X-B=two"], "step \(step)")
        }
    }

    @Test func emptyBodyWithoutTrailers() throws {
        let result = try Self.decode(Array("0\r\n\r\n".utf8), step: 1)
        #expect(result.ended && result.body.isEmpty && result.trailers.isEmpty)
    }

    @Test func leadingZerosInTheSizeAreHex() throws {
        let result = try Self.decode(Array("0003\r\nabc\r\n0\r\n\r\n".utf8), step: 64)
        #expect(result.body == Array("abc".utf8))
    }

    static let refused: [(String, String)] = [
        ("size not hex", "g\r\n"),
        ("no size", "\r\n"),
        ("space after size", "5 \r\nhello\r\n0\r\n\r\n"),
        ("space before size", " 5\r\nhello\r\n0\r\n\r\n"),
        ("sign", "+5\r\nhello\r\n0\r\n\r\n"),
        ("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"),
        ("17 hex digits", "00000000000000001\r\n"),
        ("overflow", "FFFFFFFFFFFFFFFF\r\n"),
        ("bare LF after size", "5\nhello\r\n0\r\n\r\n"),
        ("bare CR after size", "5\rhello\r\n0\r\n\r\n"),
        ("data longer than its size", "5\r\nhello!\r\n0\r\n\r\n"),
        ("data not followed by CRLF", "5\r\nhelloXY0\r\n\r\n"),
        ("empty extension", "5;\r\nhello\r\n0\r\n\r\n"),
        ("extension with a space", "5; a=b\r\nhello\r\n0\r\n\r\n"),
        ("extension value empty", "5;a=\r\nhello\r\n0\r\n\r\n"),
        ("NUL in a quoted extension", "5;a=\"x\u{0}\"\r\nhello\r\n0\r\n\r\n"),
        ("Content-Length as a trailer", "0\r\nContent-Length: 5\r\n\r\n"),
        ("Transfer-Encoding as a trailer", "0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ("obs-fold in the trailers", "0\r\nX: a\r\n b\r\n\r\n"),
        ("bare LF in the trailers", "0\r\nX: a\n\r\n"),
    ]

    @Test("refused", arguments: refused)
    func refusesMalformedChunks(_ name: String, _ text: String) {
        for step in [1, 4, 64] {
            do {
                let result = try Self.decode(Array(text.utf8), step: step)
                Issue.record("\(name) (step \(step)) accepted: \(result)")
            } catch {
                #expect(error.kind == .malformed)
            }
        }
    }

    /// Trailers past the limit are a head too large (the client gets 431, as docs/request-lifecycle.md says).
    @Test func trailersOverTheLimitAreTooLarge() {
        let text = "0\r\nX-Big: " + String(repeating: "t", count: 17 * 1024) + "\r\n\r\n"
        do {
            _ = try Self.decode(Array(text.utf8), step: 4096)
            Issue.record("trailers over 16 KiB were accepted")
        } catch {
            #expect(error.kind == .headTooLarge)
        }
    }

    @Test func longChunkLinesAreRefused() {
        let text = "5;" + String(repeating: "a", count: 5000) + "\r\nhello\r\n0\r\n\r\n"
        #expect(throws: HTTP1ParseError.self) { try Self.decode(Array(text.utf8), step: 100) }
    }

    @Test func dataIsASliceOfTheInput() throws {
        var decoder = ChunkedDecoder()
        var buffer = ByteBuffer(string: "5\r\nhello\r\n")
        let start = buffer.withUnsafeReadableBytes { $0.baseAddress! }
        guard case .data(let slice) = try decoder.next(&buffer) else {
            Issue.record("no data")
            return
        }
        // A slice shares the input's storage: no copy of the body.
        #expect(slice.withUnsafeReadableBytes { $0.baseAddress! } == start + 3)
    }
}
