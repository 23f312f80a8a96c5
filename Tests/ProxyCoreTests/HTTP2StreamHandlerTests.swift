import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import Testing

@testable import ProxyCore

/// HTTP/2 responses as frames: END_STREAM on the last frame, header names and indexing, hop-by-hop headers
/// gone — what `HTTP2StreamHandler` writes on a stream for each sequence of response parts.
struct HTTP2StreamHandlerTests {
    /// A frame, reduced to what these tests compare: kind, END_STREAM, and the `:status` or the body.
    enum Sent: Equatable {
        case headers(status: String?, end: Bool)
        case data(String, end: Bool)
    }

    static func run(_ steps: [HTTPServerResponsePart?]) throws -> [Sent] {
        let channel = EmbeddedChannel()
        let writer = HTTP2StreamHandler()
        try channel.pipeline.syncOperations.addHandler(writer)
        for step in steps {
            // nil: the end of a loop turn, where the handler flushes.
            if let step { writer.write(Self.part(step), promise: nil) } else { channel.flush() }
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

    /// A response part as the proxy hands it to the stream handler (Pier's own heads are NIO's type).
    static func part(_ part: HTTPServerResponsePart) -> DownstreamResponsePart {
        switch part {
        case .head(let head): .head(.nio(head))
        case .body(let body): .body(body)
        case .end(let trailers): .end(trailers)
        }
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

    @Test("a header block from the proxy: END_STREAM rides on it when the response ends there; a 1xx is a frame of its own")
    func headerBlocksAreWrittenAsTheyCome() throws {
        let channel = EmbeddedChannel()
        let writer = HTTP2StreamHandler()
        try channel.pipeline.syncOperations.addHandler(writer)
        let interim = HPACKHeaders([(":status", "103"), ("link", "</a.css>")])
        let final = HPACKHeaders([(":status", "204"), ("x-request-id", "r")])
        writer.write(DownstreamResponsePart.head(.http2(status: 103, interim)), promise: nil)
        writer.write(DownstreamResponsePart.head(.http2(status: 204, final)), promise: nil)
        writer.write(DownstreamResponsePart.end(nil), promise: nil)
        channel.flush()
        var sent: [(HPACKHeaders, Bool)] = []
        while let payload = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) {
            guard case .headers(let h) = payload else { Issue.record("unexpected \(payload)"); continue }
            sent.append((h.headers, h.endStream))
        }
        #expect(sent.count == 2)
        #expect(sent.first?.0.first?.value == "103" && sent.first?.1 == false)
        #expect(sent.last?.0 == final && sent.last?.1 == true)
        _ = try channel.finish()
    }

    @Test("a head framed for HTTP/1.1 is refused, never written")
    func encodedHeadsAreRefused() throws {
        let channel = EmbeddedChannel()
        let writer = HTTP2StreamHandler()
        try channel.pipeline.syncOperations.addHandler(writer)
        let failed = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenFailure { _ in failed.value = true }
        let bytes = EncodedHead(bytes: ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n"), chunked: false, status: 200)
        writer.write(DownstreamResponsePart.head(.encoded(bytes)), promise: promise)
        channel.flush()
        #expect(failed.value)
        #expect(try channel.readOutbound(as: HTTP2Frame.FramePayload.self) == nil)
        _ = try channel.finish()
    }

    @Test func headersGetLowerCaseNamesTheirIndexingAndLoseConnectionHeaders() throws {
        let headers: HTTPHeaders = [
            "Date": "Mon, 30 Nov 2026 00:00:00 GMT", "x-request-id": "abc", "x-upstream-response-time": "0.001",
            "Set-Cookie": "s=secret", "Server": "nginx", "x-proxy-id": "pier", "Connection": "keep-alive",
            "Keep-Alive": "timeout=5", "Transfer-Encoding": "chunked", "Upgrade": "h2c", "content-length": "5",
        ]
        let block = HTTP2StreamHandler.headers(headers, status: 200)
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
        #expect(HTTP2StreamHandler.lowercased(name) == lower)
    }

    @Test func thePromiseOfTheEndCompletesWithTheFrameThatCarriesIt() throws {
        let channel = EmbeddedChannel()
        let writer = HTTP2StreamHandler()
        try channel.pipeline.syncOperations.addHandler(writer)
        let bodyWritten = channel.eventLoop.makePromise(of: Void.self)
        let endWritten = channel.eventLoop.makePromise(of: Void.self)
        writer.write(Self.part(Self.ok), promise: nil)
        writer.write(Self.part(Self.body("z")), promise: bodyWritten)
        writer.write(DownstreamResponsePart.end(nil), promise: endWritten)
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

/// HTTP/2 requests as Pier's request parts: the head's HTTP/1.1 shape (Host from `:authority`, cookie crumbs
/// joined, framing for an HTTP/1.1 upstream), malformed heads refused, and the order of parts.
struct HTTP2StreamHandlerRequestTests {
    static func block(_ fields: [(String, String)]) -> HPACKHeaders { HPACKHeaders(fields) }

    static let get = [(":method", "GET"), (":scheme", "https"), (":authority", "app.test:8443"), (":path", "/a?b=1")]

    @Test func authorityBecomesTheFirstHostField() throws {
        let head = try HTTP2StreamHandler.requestHead(Self.block(Self.get + [("accept", "*/*")]), endStream: true)
        #expect(head.method == .GET && head.uri == "/a?b=1" && head.version == .http2)
        #expect(Array(head.headers.map { $0.name }) == ["host", "accept"])
        #expect(head.headers["host"] == ["app.test:8443"])
    }

    @Test func aHostFieldAloneNamesTheAuthority() throws {
        let head = try HTTP2StreamHandler.requestHead(
            Self.block([(":method", "GET"), (":scheme", "https"), (":path", "/"), ("host", "app.test")]), endStream: true)
        #expect(head.headers["host"] == ["app.test"])
        #expect(head.headers.count == 1)
    }

    @Test(arguments: [("example.org", "example.org", "https", true), ("Example.ORG", "example.org", "https", true),
                      ("example.org:443", "example.org", "https", true), ("example.org", "example.org:", "https", true),
                      ("example.org:80", "example.org", "http", true), ("example.org:80", "example.org", "https", false),
                      ("example.org:8443", "example.org", "https", false), ("a.example.org", "example.org", "https", false),
                      ("[::1]:443", "[::1]", "https", true), ("example.org", "example.orh", "https", false),
                      ("example.org:443", "example.org", "HTTPS", true), ("\u{212A}.test", "K.test", "https", false)])
    func hostAndAuthorityAreComparedAfterNormalisation(authority: String, host: String, scheme: String, same: Bool) throws {
        #expect(HTTP2StreamHandler.sameAuthority(authority, host, scheme: scheme) == same)
        let block = Self.block([(":method", "GET"), (":scheme", scheme), (":authority", authority), (":path", "/"), ("host", host)])
        if same {
            #expect(try HTTP2StreamHandler.requestHead(block, endStream: true).headers["host"] == [authority])
        } else {
            #expect(throws: HTTP2RequestHeadError.self) { try HTTP2StreamHandler.requestHead(block, endStream: true) }
        }
    }

    @Test func connectTargetsItsAuthority() throws {
        let head = try HTTP2StreamHandler.requestHead(Self.block([(":method", "CONNECT"), (":authority", "db.test:5432")]), endStream: false)
        #expect(head.method == .CONNECT && head.uri == "db.test:5432" && head.headers["host"] == ["db.test:5432"])
    }

    @Test func cookieCrumbsAreJoinedInOrderWhereTheFirstWas() throws {
        let head = try HTTP2StreamHandler.requestHead(
            Self.block(Self.get + [("cookie", "a=1"), ("accept", "*/*"), ("cookie", "b=2"), ("cookie", "c=3")]), endStream: true)
        #expect(head.headers.map { "\($0.name): \($0.value)" } == ["host: app.test:8443", "cookie: a=1; b=2; c=3", "accept: */*"])
    }

    @Test func aBodyMethodWithoutLengthIsFramedForHTTP1() throws {
        let post = [(":method", "POST"), (":scheme", "https"), (":authority", "app.test"), (":path", "/up")]
        let streaming = try HTTP2StreamHandler.requestHead(Self.block(post), endStream: false)
        #expect(streaming.headers["transfer-encoding"] == ["chunked"] && streaming.headers["content-length"].isEmpty)
        let empty = try HTTP2StreamHandler.requestHead(Self.block(post), endStream: true)
        #expect(empty.headers["content-length"] == ["0"] && empty.headers["transfer-encoding"].isEmpty)
        let sized = try HTTP2StreamHandler.requestHead(Self.block(post + [("content-length", "5")]), endStream: false)
        #expect(sized.headers["content-length"] == ["5"] && sized.headers["transfer-encoding"].isEmpty)
        // GET without END_STREAM on its HEADERS: nothing added (no body is expected).
        let get = try HTTP2StreamHandler.requestHead(Self.block(Self.get), endStream: false)
        #expect(get.headers.count == 1)
    }

    @Test(arguments: [
        [(":scheme", "https"), (":authority", "a.test"), (":path", "/")],
        [(":method", "GET"), (":scheme", "https"), (":authority", "a.test")],
        [(":method", "GET"), (":authority", "a.test"), (":path", "/")],
        [(":method", "GET"), (":scheme", "https"), (":path", "/")],
        [(":method", "GET"), (":method", "POST"), (":scheme", "https"), (":authority", "a.test"), (":path", "/")],
        [(":method", "GET"), (":scheme", "https"), (":authority", "a.test"), (":path", "/"), ("host", "b.test")],
        [(":method", "GET"), (":scheme", "https"), (":path", "/"), ("host", "a.test"), ("host", "a.test")],
        [(":method", "GET"), (":scheme", "https"), (":authority", "a.test"), (":path", "/"), (":protocol", "websocket")],
    ])
    func malformedHeadsAreRefused(fields: [(String, String)]) {
        #expect(throws: HTTP2RequestHeadError.self) { try HTTP2StreamHandler.requestHead(Self.block(fields), endStream: true) }
    }

    /// Parts as the proxy receives them (through the pipeline: no receiver set).
    static func parts(_ frames: [HTTP2Frame.FramePayload]) throws -> [String] {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTP2StreamHandler())
        for frame in frames { try channel.writeInbound(frame) }
        var parts: [String] = []
        while let part = try channel.readInbound(as: DownstreamRequestPart.self) {
            switch part {
            case .head(let head): parts.append("head \(head.method) \(head.target)")
            case .body(let body): parts.append("body \(String(buffer: body))")
            case .end(let trailers): parts.append("end \(trailers.map { $0.map { "\($0.name)=\($0.value)" }.joined(separator: ",") } ?? "-")")
            }
        }
        _ = try channel.finish()
        return parts
    }

    @Test func framesBecomePartsInOrder() throws {
        let post = Self.block([(":method", "POST"), (":scheme", "https"), (":authority", "a.test"), (":path", "/p")])
        #expect(try Self.parts([.headers(.init(headers: Self.block(Self.get), endStream: true))]) == ["head GET /a?b=1", "end -"])
        #expect(try Self.parts([
            .headers(.init(headers: post)), .data(.init(data: .byteBuffer(ByteBuffer(string: "ab")))),
            .data(.init(data: .byteBuffer(ByteBuffer(string: "c")), endStream: true)),
        ]) == ["head POST /p", "body ab", "body c", "end -"])
        // An empty DATA frame that ends the stream is the end alone; trailers end it with their fields.
        #expect(try Self.parts([
            .headers(.init(headers: post)), .data(.init(data: .byteBuffer(ByteBuffer(string: "x")))),
            .data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)),
        ]) == ["head POST /p", "body x", "end -"])
        #expect(try Self.parts([
            .headers(.init(headers: post)), .data(.init(data: .byteBuffer(ByteBuffer(string: "y")))),
            .headers(.init(headers: Self.block([("grpc-status", "0")]), endStream: true)),
        ]) == ["head POST /p", "body y", "end grpc-status=0"])
    }

    @Test func aMalformedHeadResetsTheStreamAndNothingIsDelivered() throws {
        let channel = EmbeddedChannel()
        let handler = HTTP2StreamHandler()
        let charged = NIOLoopBoundBox(0, eventLoop: channel.eventLoop)
        handler.onMalformed = { charged.value += 1 }
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: Self.block([(":method", "GET")]), endStream: false)))
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(string: "x")), endStream: true)))
        // The reset goes on the next turn of the loop (not within the read that opened the stream).
        #expect(try channel.readOutbound(as: HTTP2Frame.FramePayload.self) == nil)
        channel.embeddedEventLoop.run()
        guard case .rstStream(let code)? = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) else {
            Issue.record("no RST_STREAM")
            return
        }
        #expect(code == .protocolError)
        #expect(try channel.readInbound(as: DownstreamRequestPart.self) == nil)
        #expect(charged.value == 1, "the connection is charged once for the stream")
        _ = try channel.finish()
    }
}
