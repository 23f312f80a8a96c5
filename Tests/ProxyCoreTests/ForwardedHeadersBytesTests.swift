import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import ProxyCore

/// `ForwardedHeaders` writes heads as bytes (Pier's codec on both sides) or as NIO's lists (HTTP/2, h2c,
/// `--http1-codec nio`) from one set of rules: both writers must say the same thing, and the bytes path
/// must relay every value byte for byte.
struct ForwardedHeadersBytesTests {
    static let requests = [
        "GET /x HTTP/1.1\r\nHost: app.test:8080\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Forwarded-For: 10.1.1.1\r\nExpect: 100-continue\r\nProxy-Connection: keep-alive\r\nUser-Agent: a-rather-long-user-agent/1.0 (test)\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\n\r\n",
        "PUT /u HTTP/1.1\r\nhost: a\r\nContent-Length: 3\r\nX_Under: 1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-For, x-other\r\nX-Forwarded-For: 10.9.9.9\r\nX-Other: 1\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        "GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\nX-Real-IP: 1.2.3.4\r\nX-Request-ID: mine\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nX-Forwarded-For: 10.0.0.3\r\n\r\n",
        "HEAD /h HTTP/1.0\r\nHost: a\r\nCookie: a=b\r\nCookie: c=d\r\n\r\n",
    ]

    @Test(arguments: requests)
    func upstreamBytesSayWhatTheListSays(_ text: String) throws {
        let parsed = RequestHead.parsed(text)
        let nio = RequestHead(parsed.nio)
        let authority = parsed.target.hasPrefix("http://") ? "b.test" : nil
        for (clientIP, webSocket, h2c, underscores) in [("192.0.2.7", false, false, false), (nil, true, true, true)] as [(String?, Bool, Bool, Bool)] {
            func build(_ head: RequestHead, encode: Bool) throws -> HTTPRequestHead {
                try ForwardedHeaders.upstreamHead(from: head, target: "/routed", authority: authority, clientIP: clientIP, requestID: "rid",
                                                  proto: "https", port: 8443, http2Upstream: h2c, webSocket: webSocket,
                                                  underscoresInHeaders: underscores, encode: encode).decoded
            }
            let bytes = try build(parsed, encode: true)
            let list = try build(nio, encode: false)
            #expect(bytes.method == list.method && bytes.uri == "/routed" && list.uri == "/routed" && bytes.version == .http1_1)
            #expect(bytes.headers.map { "\($0.name.lowercased()): \($0.value)" } == list.headers.map { "\($0.name.lowercased()): \($0.value)" },
                    "\(text)")
            // The same rules as ForwardedHeadersTests check on the list writer.
            #expect(!bytes.headers.contains(name: "connection") || webSocket)
            #expect(bytes.headers["x-request-id"] == ["rid"])
        }
    }

    static let responses = [
        "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nTransfer-Encoding: chunked\r\nX-App: v\r\nDate: Sat, 05 Dec 2026 07:39:14 GMT\r\n\r\n",
        "HTTP/1.1 200 Fine\r\nContent-Length: 5\r\nX-Request-ID: theirs\r\nX-Upstream-Addr: x\r\n\r\n",
        "HTTP/1.0 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        "HTTP/1.1 404 \r\nContent-Length: 2\r\n\r\n",
    ]

    @Test(arguments: responses)
    func downstreamBytesSayWhatTheListSays(_ text: String) throws {
        let parsed = ResponseHead.parsed(text)
        let info = ForwardedHeaders.InfoHeaders(requestID: "rid", proxyID: "p1", serverInfo: "pier/x", upstreamAddress: "10.0.0.1:80",
                                                upstreamResponseTime: "0.001")
        for (client, keepAlive, info) in [(HTTPVersion.http1_1, true, nil), (.http1_1, false, info), (.http1_0, true, info), (.http1_0, false, nil)]
            as [(HTTPVersion, Bool, ForwardedHeaders.InfoHeaders?)]
        {
            let bytes = try ForwardedHeaders.downstreamHead(from: parsed, clientVersion: client, keepAlive: keepAlive, info: info, encode: true)
            let list = try ForwardedHeaders.downstreamHead(from: parsed, clientVersion: client, keepAlive: keepAlive, info: info, encode: false)
            #expect(bytes.decoded.status == list.decoded.status && bytes.decoded.version == list.decoded.version)
            #expect(bytes.headers.map { "\($0.name): \($0.value)" } == list.headers.map { "\($0.name): \($0.value)" }, "\(text)")
        }
    }

    /// To an HTTP/2 client the head is built as its header block at once: the same fields, names and
    /// indexing as converting NIO's head did (`HTTP2StreamHandler.headers`), `:status` first; a 101 stays NIO's.
    @Test(arguments: responses + ["HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nCONTENT-TYPE: text/plain\r\nX-Custom-Thing: A\r\nVary: x\r\n\r\n"])
    func http2BlockSaysWhatTheListSays(_ text: String) throws {
        let parsed = ResponseHead.parsed(text)
        let info = ForwardedHeaders.InfoHeaders(requestID: "rid", proxyID: "p1", serverInfo: "pier/x", upstreamAddress: "10.0.0.1:80",
                                                upstreamResponseTime: "0.001")
        for info in [nil, info] {
            let list = try ForwardedHeaders.downstreamHead(from: parsed, clientVersion: .http2, keepAlive: true, info: info, encode: false)
            let block = try ForwardedHeaders.downstreamHead(from: parsed, clientVersion: .http2, keepAlive: true, info: info, encode: false,
                                                            http2Block: true)
            // Values through the loop's interner: the same block, twice (the second from kept Strings).
            let strings = StringInterner()
            for _ in 0..<2 {
                let interned = try ForwardedHeaders.downstreamHead(from: parsed, clientVersion: .http2, keepAlive: true, info: info, encode: false,
                                                                   http2Block: true, strings: strings)
                #expect(interned == block)
            }
            guard case .nio(let nio) = list else { Issue.record("expected NIO's head"); return }
            if nio.status == .switchingProtocols {
                #expect(block == list)
                continue
            }
            guard case .http2(let status, let headers) = block else { Issue.record("expected a header block: \(block)"); return }
            #expect(status == Int(nio.status.code))
            let expected = HTTP2StreamHandler.headers(nio.headers, status: nio.status.code)
            #expect(headers.map { "\($0.0): \($0.1) \($0.2)" } == expected.map { "\($0.0): \($0.1) \($0.2)" }, "\(text)")
            #expect(headers.first?.0 == ":status")
            #expect(!headers.contains { $0.0.contains(where: \.isUppercase) })
        }
    }

    @Test("a recycled head buffer is written only when nothing else holds it: a head in flight is never overwritten")
    func recycledBuffersNeverOverwriteAHeadInFlight() throws {
        var pool = HeadBufferPool()
        let request = RequestHead.parsed("GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        func build(_ target: String, _ recycling: consuming ByteBuffer?) throws -> EncodedHead {
            guard case .encoded(let head) = try ForwardedHeaders.upstreamHead(from: request, target: target, clientIP: nil, requestID: "r",
                                                                              proto: "http", encode: true, recycling: consume recycling)
            else { throw ForwardedHeaders.Unrepresentable(field: "-") }
            return head
        }
        let first = try build("/first", pool.take())
        pool.giveBack(first.bytes)
        // `first` is still held (a write in flight): the next head gets storage of its own.
        let second = try build("/second", pool.take())
        #expect(String(buffer: first.bytes).hasPrefix("GET /first "))
        #expect(String(buffer: second.bytes).hasPrefix("GET /second "))
        // Once nothing else holds it, the storage is reused (same bytes, no allocation).
        var recycler = HeadBufferPool()
        var address: UInt = 0
        do {
            let head = try build("/x", nil)
            address = head.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
            recycler.giveBack(head.bytes)
        }
        let reused = try build("/y", recycler.take())
        #expect(reused.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == address)
        #expect(String(buffer: reused.bytes).hasPrefix("GET /y "))
        // Bounded: never more than `maxBuffers` kept, and no large buffer.
        for _ in 0..<(HeadBufferPool.maxBuffers + 10) { pool.giveBack(ByteBuffer(string: "x")) }
        #expect(pool.count == HeadBufferPool.maxBuffers)
        var large = HeadBufferPool()
        large.giveBack(ByteBufferAllocator().buffer(capacity: HeadBufferPool.maxKeptCapacity + 1))
        #expect(large.count == 0)
    }

    @Test("an HTTP/1.0 request without Host goes on as HTTP/1.1 with an empty Host (RFC 9112 §3.2), by both writers")
    func hostlessHTTP10GetsAnEmptyHost() throws {
        let parsed = RequestHead.parsed("GET /old HTTP/1.0\r\nAccept: */*\r\n\r\n")
        for (head, encode) in [(parsed, true), (RequestHead(parsed.nio), false)] {
            let out = try ForwardedHeaders.upstreamHead(from: head, target: "/old", clientIP: nil, requestID: "r", proto: "http", encode: encode)
            #expect(out.decoded.version == .http1_1 && out.headers["host"] == [""], "encode: \(encode)")
            #expect(!out.headers.contains(name: "x-forwarded-host"))
        }
    }

    @Test("request ids: 32 lower-case hex digits written in place, the same as their text; a client's kept as sent")
    func requestIDs() throws {
        let loop = LoopState(eventLoop: EmbeddedEventLoop())
        var seen = Set<String>()
        for _ in 0..<100 {
            let id = loop.makeRequestID()
            let text = id.description
            #expect(text.utf8.count == 32 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }, "\(text)")
            var bytes = ByteBuffer()
            id.write(into: &bytes)
            #expect(String(buffer: bytes) == text && id.count == 32)
            seen.insert(text)
        }
        #expect(seen.count == 100)
        let given = RequestID("A-b_c.9")
        var bytes = ByteBuffer()
        given.write(into: &bytes)
        #expect(String(buffer: bytes) == "A-b_c.9" && given.description == "A-b_c.9" && given.count == 7)
    }

    @Test func obsTextIsRelayedByteForByteOrRefused() throws {
        var bytes = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf")
        bytes.writeBytes([0xE9])
        bytes.writeString("\r\n\r\n")
        var parser = HTTP1HeadParserForTests.request
        let head = RequestHead(parsed: try #require(try parser.parse(&bytes)))
        guard case .encoded(let encoded) = try ForwardedHeaders.upstreamHead(from: head, target: "/", clientIP: nil, requestID: "r",
                                                                             proto: "http", encode: true)
        else { Issue.record("expected bytes"); return }
        #expect(Array(encoded.bytes.readableBytesView).firstRange(of: Array("X-Name: caf".utf8) + [0xE9, 13, 10]) != nil)
        // NIO's head types hold Strings: toward an h2c upstream the value cannot go unchanged, so it does not go.
        #expect(throws: ForwardedHeaders.Unrepresentable.self) {
            try ForwardedHeaders.upstreamHead(from: head, target: "/", clientIP: nil, requestID: "r", proto: "http", encode: false)
        }

        var response = ByteBuffer(string: "HTTP/1.1 200 D")
        response.writeBytes([0xE9])
        response.writeString("j\u{E0}\r\nContent-Disposition: attachment; filename=caf")
        response.writeBytes([0xE9])
        response.writeString("\r\nContent-Length: 0\r\n\r\n")
        var responseParser = HTTP1HeadParserForTests.response
        let upstream = ResponseHead(parsed: try #require(try responseParser.parse(&response)))
        guard case .encoded(let relayed) = try ForwardedHeaders.downstreamHead(from: upstream, clientVersion: .http1_1, keepAlive: true,
                                                                               info: nil, encode: true)
        else { Issue.record("expected bytes"); return }
        let out = Array(relayed.bytes.readableBytesView)
        #expect(out.starts(with: Array("HTTP/1.1 200 D".utf8) + [0xE9]), "the reason phrase as it came")
        #expect(out.firstRange(of: Array("filename=caf".utf8) + [0xE9, 13, 10]) != nil)
        #expect(throws: ForwardedHeaders.Unrepresentable.self) {
            try ForwardedHeaders.downstreamHead(from: upstream, clientVersion: .http2, keepAlive: true, info: nil, encode: false)
        }
        #expect(throws: ForwardedHeaders.Unrepresentable.self) {
            try ForwardedHeaders.downstreamHead(from: upstream, clientVersion: .http2, keepAlive: true, info: nil, encode: false, http2Block: true)
        }
        #expect(throws: ForwardedHeaders.Unrepresentable.self) {
            try ForwardedHeaders.downstreamHead(from: upstream, clientVersion: .http2, keepAlive: true, info: nil, encode: false, http2Block: true,
                                                strings: StringInterner())
        }
    }
}

import HTTP1Codec

enum HTTP1HeadParserForTests {
    static var request: HTTP1HeadParser { HTTP1HeadParser(role: .request, maxHeadBytes: 1 << 16) }
    static var response: HTTP1HeadParser { HTTP1HeadParser(role: .response, maxHeadBytes: 1 << 16) }
}
