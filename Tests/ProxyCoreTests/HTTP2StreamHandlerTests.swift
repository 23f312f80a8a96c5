import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import Testing

@testable import ProxyCore

/// HTTP/2 responses as frames: END_STREAM on the last frame, header names and indexing, hop-by-hop headers
/// gone — what `HTTP2ResponseWriter` writes on a stream for each sequence of response parts.
struct HTTP2ResponseWriterTests {
    /// A frame, reduced to what these tests compare: kind, END_STREAM, and the `:status` or the body.
    enum Sent: Equatable {
        case headers(status: String?, end: Bool)
        case data(String, end: Bool)
    }

    static func run(_ steps: [HTTPServerResponsePart?]) throws -> [Sent] {
        let channel = EmbeddedChannel()
        let writer = HTTP2ResponseWriter()
        try channel.pipeline.syncOperations.addHandler(writer)
        for step in steps {
            // nil: the end of a loop turn, where the handler flushes.
            if let step { writer.write(step, promise: nil) } else { channel.flush() }
        }
        channel.flush()
        var sent: [Sent] = []
        while let payload = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
            switch payload {
            case .headers(let h): sent.append(.headers(status: h.headers.first(name: ":status"), end: h.endStream))
            case .data(let d):
                guard case .byteBuffer(let buffer) = d.data else { Issue.record("file region"); continue }
                sent.append(.data(String(buffer: buffer), end: d.endStream))
            default: Issue.record("unexpected \(payload)")
            }
        }
        _ = try channel.finish()
        return sent
    }

    static let ok = HTTPServerResponsePart.head(HTTPResponseHead(version: .http2, status: .ok))
    static func body(_ text: String) -> HTTPServerResponsePart { .body(.byteBuffer(ByteBuffer(string: text))) }

    @Test(arguments: [
        // A response ended in the turn of its last body part: END_STREAM rides on that DATA frame.
        ([ok, body("hello"), .end(nil)], [Sent.headers(status: "200", end: false), .data("hello", end: true)]),
        // Without a body: one HEADERS frame.
        ([ok, .end(nil)], [.headers(status: "200", end: true)]),
        // A body over two turns: the end in a later turn is an empty DATA frame.
        ([ok, body("a"), nil, body("b"), nil, .end(nil)],
         [.headers(status: "200", end: false), .data("a", end: false), .data("b", end: false), .data("", end: true)]),
        // Trailers end the stream themselves.
        ([ok, body("x"), .end(["grpc-status": "0"])], [.headers(status: "200", end: false), .data("x", end: false), .headers(status: nil, end: true)]),
        // 100 Continue first: its own HEADERS frame, never the end.
        ([.head(HTTPResponseHead(version: .http2, status: .continue)), ok, body("y"), .end(nil)],
         [.headers(status: "100", end: false), .headers(status: "200", end: false), .data("y", end: true)]),
    ] as [([HTTPServerResponsePart?], [Sent])])
    func framing(steps: [HTTPServerResponsePart?], expected: [Sent]) throws {
        #expect(try Self.run(steps) == expected)
    }

    @Test func headersGetLowerCaseNamesTheirIndexingAndLoseConnectionHeaders() throws {
        let headers: HTTPHeaders = [
            "Date": "Mon, 30 Nov 2026 00:00:00 GMT", "x-request-id": "abc", "x-upstream-response-time": "0.001",
            "Set-Cookie": "s=secret", "Server": "nginx", "x-proxy-id": "pier", "Connection": "keep-alive",
            "Keep-Alive": "timeout=5", "Transfer-Encoding": "chunked", "Upgrade": "h2c", "content-length": "5",
        ]
        let block = HTTP2ResponseWriter.headers(headers, status: 200)
        #expect(block.first?.name == ":status" && block.first?.value == "200", "the pseudo-header first")
        var indexing: [String: HPACKIndexing] = [:]
        for (name, _, index) in block { indexing[name] = index }
        #expect(Set(indexing.keys) == [":status", "date", "x-request-id", "x-upstream-response-time", "set-cookie", "server", "x-proxy-id", "content-length"])
        #expect(indexing["date"] == .nonIndexable)
        #expect(indexing["x-request-id"] == .nonIndexable)
        #expect(indexing["x-upstream-response-time"] == .nonIndexable)
        #expect(indexing["set-cookie"] == .neverIndexed)
        #expect(indexing["server"] == .indexable)
        #expect(indexing["x-proxy-id"] == .indexable)
        #expect(block[canonicalForm: "set-cookie"] == ["s=secret"])
    }

    @Test(arguments: [("Content-Type", "content-type"), ("ETag", "etag"), ("Last-Modified", "last-modified"), ("x-request-id", "x-request-id"),
                      ("X-Custom-Thing", "x-custom-thing"), ("CONTENT-LENGTH", "content-length"), ("Content-Typo", "content-typo")])
    func namesInLowerCase(name: String, lower: String) {
        #expect(HTTP2ResponseWriter.lowercased(name) == lower)
    }

    @Test func thePromiseOfTheEndCompletesWithTheFrameThatCarriesIt() throws {
        let channel = EmbeddedChannel()
        let writer = HTTP2ResponseWriter()
        try channel.pipeline.syncOperations.addHandler(writer)
        let bodyWritten = channel.eventLoop.makePromise(of: Void.self)
        let endWritten = channel.eventLoop.makePromise(of: Void.self)
        writer.write(Self.ok, promise: nil)
        writer.write(Self.body("z"), promise: bodyWritten)
        writer.write(.end(nil), promise: endWritten)
        // Callbacks are @Sendable: a box bound to the (embedded) loop they run on counts them.
        let done = NIOLoopBoundBox(0, eventLoop: channel.eventLoop)
        bodyWritten.futureResult.whenSuccess { done.value += 1 }
        endWritten.futureResult.whenSuccess { done.value += 1 }
        #expect(done.value == 0)
        channel.flush()
        #expect(done.value == 2)
        _ = try channel.finish()
    }
}
