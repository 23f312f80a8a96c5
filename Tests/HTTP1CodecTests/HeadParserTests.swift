import HTTP1Codec
import NIOCore
import Testing

/// RFC 9112's grammar, case by case: what Pier's parser accepts, what it refuses and why, and that it
/// reads heads in place whatever way they are cut.
struct HeadParserTests {
    static func parse(_ text: String, role: HTTP1HeadParser.Role = .request, limit: Int = 8192) throws(HTTP1ParseError) -> HTTP1Head? {
        var parser = HTTP1HeadParser(role: role, maxHeadBytes: limit)
        var buffer = ByteBuffer(string: text)
        return try parser.parse(&buffer)
    }

    static func refusal(_ text: String, role: HTTP1HeadParser.Role = .request) -> HTTP1ParseError? {
        do {
            _ = try parse(text, role: role)
            return nil
        } catch {
            return error
        }
    }

    @Test func simpleRequest() throws {
        let head = try #require(try Self.parse("GET /a?b=c HTTP/1.1\r\nHost: app.test\r\nX-A:  v  w \t\r\n\r\nBODY"))
        #expect(head.string(head.first) == "GET")
        #expect(head.string(head.second) == "/a?b=c")
        #expect(head.versionMinor == 1)
        #expect(head.fields.count == 2)
        #expect(head.name(head.fields[1]) == "X-A")
        #expect(head.value(head.fields[1]) == "v  w", "OWS around the value is not part of it; inside it is")
        #expect(head.fields[0].known == .host)
        #expect(head.framing == .none)
        #expect(head.bytes.readableBytes == "GET /a?b=c HTTP/1.1\r\nHost: app.test\r\nX-A:  v  w \t\r\n\r\n".utf8.count)
    }

    @Test func bodyFraming() throws {
        #expect(try Self.parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n")?.framing == .length(12))
        #expect(try Self.parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")?.framing == HTTP1Framing.none)
        #expect(try Self.parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n")?.framing == .chunked)
        #expect(try Self.parse("GET / HTTP/1.0\r\n\r\n")?.framing == HTTP1Framing.none, "HTTP/1.0 needs no Host")
        for host in ["", "app.test:8080", "[::1]:8080", "10.0.0.1", "xn--bcher-kva.example"] {
            #expect(try Self.parse("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n") != nil, "Host: \(host)")
        }
    }

    @Test("target forms llhttp reads too", arguments: [
        "GET /a?b#c HTTP/1.1", "OPTIONS * HTTP/1.1", "GET http://u:p@a.test:80/x?y HTTP/1.1", "GET HTTPS://a HTTP/1.1",
        "GET http://a?q HTTP/1.1", "CONNECT [::1]:443 HTTP/1.1", "CONNECT a.test:443 HTTP/1.1",
    ])
    func targetForms(_ line: String) throws {
        #expect(try Self.parse(line + "\r\nHost: a\r\n\r\n") != nil)
    }

    @Test func upgradeRequests() throws {
        #expect(try Self.parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n")?.upgrade == true)
        #expect(try Self.parse("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n")?.upgrade == false, "Upgrade without Connection: upgrade")
        #expect(try Self.parse("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n")?.upgrade == true)
    }

    static let refused: [(String, String)] = [
        ("CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ("two CL values", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
        ("CL list that disagrees", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n"),
        // Found by fuzz-http1-request: llhttp refuses an equal list or an equal second field too.
        ("CL list of equal values", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
        ("CL twice with one value", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
        ("CL followed by a tab", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2 \t\r\n\r\n"),
        ("CL with a sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n"),
        ("CL with a leading zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 03\r\n\r\n"),
        ("CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"),
        ("CL in hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\n"),
        ("CL too long", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n"),
        ("TE not chunked last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        ("TE only gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
        ("TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ("TE with an empty element", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n"),
        ("TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"),
        ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ("NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{0}b\r\n\r\n"),
        ("bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n"),
        ("bare LF ending a line", "GET / HTTP/1.1\nHost: a\r\n\r\n"),
        ("bare LF ending the head", "GET / HTTP/1.1\r\nHost: a\n\n"),
        ("DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{7F}\r\n\r\n"),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n  folded\r\n\r\n"),
        ("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
        ("tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"),
        ("empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"),
        ("invalid name byte", "GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n"),
        ("missing Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"),
        ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        ("Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        ("Host with obs-text", "GET / HTTP/1.1\r\nHost: app.test\u{E9}\r\n\r\n"),
        ("Host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        ("unknown method", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("raw byte in target", "GET /\u{E9} HTTP/1.1\r\nHost: a\r\n\r\n"),
        // Found by fuzz-http1-request: llhttp refuses a target of no form.
        ("target of no form", "GET )/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("scheme without //", "GET http:a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("quote in an authority", "GET http://a\"b/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("two @ in an authority", "GET http://u@v@a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("fragment after an authority", "GET http://a#f HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("CONNECT to a path", "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("HTTP/0.9", "GET /\r\n\r\n"),
        ("garbage line", "GET\r\n\r\n"),
        ("lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n"),
        ("trailing space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n"),
    ]

    @Test("refused, with a reason", arguments: refused)
    func refusesMalformedRequests(_ name: String, _ text: String) {
        let error = Self.refusal(text)
        #expect(error?.kind == .malformed, "\(name): \(String(describing: error))")
    }

    @Test func versionsOtherThan10And11AreUnsupported() {
        #expect(Self.refusal("GET / HTTP/2.0\r\nHost: a\r\n\r\n")?.kind == .unsupportedVersion)
        #expect(Self.refusal("GET / HTTP/1.2\r\nHost: a\r\n\r\n")?.kind == .unsupportedVersion)
    }

    @Test func obsTextInValuesIsKeptByteForByte() throws {
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\nX-A: caf")
        buffer.writeBytes([0xE9, 0x0D, 0x0A, 0x0D, 0x0A])
        var parser = HTTP1HeadParser(role: .request, maxHeadBytes: 1024)
        let head = try #require(try parser.parse(&buffer))
        let field = head.fields[1]
        let bytes = head.withBytes(Int(field.valueStart)..<Int(field.valueEnd)) { Array($0) }
        #expect(bytes == Array("caf".utf8) + [0xE9])
    }

    @Test func headOverTheLimitIsTooLarge() {
        let big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "a", count: 300) + "\r\n\r\n"
        #expect(throws: HTTP1ParseError.self) { try Self.parse(big, limit: 200) }
        do {
            _ = try Self.parse(big, limit: 200)
        } catch {
            #expect(error.kind == .headTooLarge)
        }
        // Incomplete and already over: refused before the rest arrives.
        do {
            _ = try Self.parse(String(big.prefix(250)), limit: 200)
            Issue.record("an incomplete head over the limit was not refused")
        } catch {
            #expect(error.kind == .headTooLarge)
        }
    }

    @Test func leadingEmptyLinesAreSkippedUpToFour() throws {
        #expect(try Self.parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") != nil)
        #expect(Self.refusal("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")?.kind == .malformed)
    }

    /// Every way of cutting a head in two gives the same head, and a bare LF is refused as soon as it arrives.
    @Test func headsArrivingInPiecesParseTheSame() throws {
        let text = "POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\nX-Long: \(String(repeating: "v", count: 40))\r\n\r\nabc"
        let whole = try #require(try Self.parse(text))
        let bytes = Array(text.utf8)
        for cut in 1..<bytes.count - 3 {
            var parser = HTTP1HeadParser(role: .request, maxHeadBytes: 8192)
            var buffer = ByteBuffer(bytes: bytes[..<cut])
            if let early = try parser.parse(&buffer) {
                Issue.record("complete after \(cut) bytes: \(early.fields.count) fields")
                continue
            }
            buffer.writeBytes(bytes[cut...])
            let head = try #require(try parser.parse(&buffer), "cut at \(cut)")
            #expect(head.fields == whole.fields && head.framing == whole.framing && head.second == whole.second, "cut at \(cut)")
            #expect(buffer.readableBytes == 3, "the body stays in the buffer")
        }
    }

    @Test func responses() throws {
        let ok = try #require(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", role: .response))
        #expect(ok.status == 200 && ok.string(ok.second) == "OK" && ok.framing == .length(5))
        #expect(try Self.parse("HTTP/1.1 200 \r\n\r\n", role: .response)?.framing == .untilClose)
        #expect(try Self.parse("HTTP/1.1 204\r\nContent-Length: 5\r\n\r\n", role: .response)?.framing == HTTP1Framing.none)
        #expect(try Self.parse("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", role: .response)?.framing == HTTP1Framing.none)
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", role: .response)?.framing == .chunked)
        #expect(try Self.parse("HTTP/1.0 200 OK\r\n\r\n", role: .response)?.framing == .untilClose)
        for bad in ["HTTP/1.1 0 X\r\n\r\n", "HTTP/1.1 999 X\r\n\r\n", "HTTP/1.1 20 X\r\n\r\n", "HTTP/1.1 2000 X\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                    // Found by fuzz-http1-response: llhttp refuses the final response after these.
                    "HTTP/1.0 100 Continue\r\n\r\n",
                    "HTTP/1.1 103 Early Hints\r\nConnection: close\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                    "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                    "HTTP/1.1 200 O\u{0}K\r\n\r\n", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "HTTP/1.1 200 OK\nX: a\r\n\r\n",
                    "ICY 200 OK\r\n\r\n"] {
            #expect(Self.refusal(bad, role: .response) != nil, "\(bad.debugDescription)")
        }
    }
}

extension HeadParserTests {
    /// A CONNECT request carries no body whatever its fields say (as llhttp reads it; RFC 9110 §9.3.6).
    @Test func connectHasNoBody() throws {
        let head = try #require(try Self.parse("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\nContent-Length: 5\r\n\r\nhello"))
        #expect(head.framing == HTTP1Framing.none && head.upgrade)
        #expect(Self.refusal("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") != nil,
                "an ambiguous CONNECT head is refused all the same")
    }
}
