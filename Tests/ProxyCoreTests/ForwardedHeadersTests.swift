import NIOHTTP1
import Testing

@testable import ProxyCore

struct ForwardedHeadersTests {
    @Test func upstreamHeadStripsHopByHopAndSetsForwardingHeaders() {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/x", headers: [
            "Host": "app.test:8080", "Connection": "keep-alive, X-Secret", "X-Secret": "s", "Keep-Alive": "timeout=5",
            "Upgrade": "h2c", "HTTP2-Settings": "AAA", "TE": "trailers", "X-Forwarded-For": "10.1.1.1", "Expect": "100-continue",
            "Proxy-Connection": "keep-alive",
        ])
        let out = ForwardedHeaders.upstreamHead(from: head, target: "/y", clientIP: "192.0.2.7", requestID: "rid", proto: "http")
        #expect(out.uri == "/y")
        #expect(out.headers["host"] == ["app.test:8080"])
        for name in ["connection", "x-secret", "keep-alive", "upgrade", "http2-settings", "te", "expect", "proxy-connection"] {
            #expect(!out.headers.contains(name: name), "\(name) must not be forwarded")
        }
        #expect(out.headers["x-forwarded-for"] == ["10.1.1.1, 192.0.2.7"])
        #expect(out.headers["x-real-ip"] == ["192.0.2.7"])
        #expect(out.headers["x-forwarded-proto"] == ["http"])
        #expect(out.headers["x-forwarded-host"] == ["app.test:8080"])
        #expect(out.headers["x-request-id"] == ["rid"])
    }

    @Test func chunkedRequestsStayChunkedAndBodylessPostsGetALength() {
        let chunked = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/", headers: ["Host": "a", "Transfer-Encoding": "chunked"])
        #expect(ForwardedHeaders.upstreamHead(from: chunked, target: "/", clientIP: nil, requestID: "r", proto: "http").headers["transfer-encoding"] == ["chunked"])
        let empty = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/", headers: ["Host": "a"])
        #expect(ForwardedHeaders.upstreamHead(from: empty, target: "/", clientIP: nil, requestID: "r", proto: "http").headers["content-length"] == ["0"])
    }

    @Test func downstreamHeadAddsInfoHeadersAndConnectionClose() {
        let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Connection": "keep-alive, X-Hop", "X-Hop": "1", "Transfer-Encoding": "chunked", "X-App": "v"])
        let info = ForwardedHeaders.InfoHeaders(requestID: "rid", proxyID: "p1", serverInfo: "pier/x", upstreamAddress: "10.0.0.1:80", upstreamResponseTime: "0.001")
        let out = ForwardedHeaders.downstreamHead(from: head, clientVersion: .http1_1, keepAlive: false, info: info)
        #expect(!out.headers.contains(name: "x-hop"))
        // The upstream's framing is hop-by-hop; Pier restates it (the encoder is told not to).
        #expect(out.headers["transfer-encoding"] == ["chunked"])
        #expect(out.headers["x-app"] == ["v"])
        #expect(out.headers["connection"] == ["close"])
        #expect(out.headers["x-upstream-addr"] == ["10.0.0.1:80"])
        #expect(out.headers["x-proxy-id"] == ["p1"])
        #expect(out.headers["x-upstream-response-time"] == ["0.001"])
    }

    /// The framing Pier states toward the client, since NIO's encoder no longer adds or removes any.
    @Test(arguments: [
        // upstream status, upstream framing headers, client version → framing headers sent
        (200, ["Content-Length": "5"], HTTPVersion.http1_1, ["content-length: 5"]),
        (200, ["Transfer-Encoding": "chunked"], .http1_1, ["transfer-encoding: chunked"]),
        (200, ["Transfer-Encoding": "gzip, chunked"], .http1_1, ["transfer-encoding: chunked"]),
        (200, [:], .http1_1, ["transfer-encoding: chunked"]),
        (200, ["Transfer-Encoding": "chunked"], .http1_0, []),
        (200, ["Content-Length": "5"], .http1_0, ["content-length: 5"]),
        (200, ["Transfer-Encoding": "chunked"], HTTPVersion(major: 2, minor: 0), []),
        (200, ["Content-Length": "5"], HTTPVersion(major: 2, minor: 0), ["content-length: 5"]),
        (204, ["Content-Length": "0"], .http1_1, []),
        (304, ["Content-Length": "5"], .http1_1, []),
        (304, [:], .http1_1, []),
    ] as [(Int, [String: String], HTTPVersion, [String])])
    func downstreamFraming(status: Int, framing: [String: String], client: HTTPVersion, expected: [String]) {
        var headers = HTTPHeaders(framing.map { ($0.key, $0.value) })
        headers.add(name: "X-App", value: "v")
        let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers)
        let out = ForwardedHeaders.downstreamHead(from: head, clientVersion: client, keepAlive: true, info: nil)
        let stated = out.headers.filter { ["content-length", "transfer-encoding"].contains($0.name.lowercased()) }
            .map { "\($0.name.lowercased()): \($0.value)" }
        #expect(stated == expected)
        #expect(out.headers["x-app"] == ["v"])
    }

    @Test func connectionNamedHeadersGoEvenForwardingOnes() {
        // A client naming X-Forwarded-For in Connection drops its own value; Pier's is still added.
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: [
            "Host": "a", "Connection": "X-Forwarded-For, x-other", "X-Forwarded-For": "10.9.9.9", "X-Other": "1", "Content-Length": "0",
        ])
        let out = ForwardedHeaders.upstreamHead(from: head, target: "/", clientIP: "192.0.2.1", requestID: "r", proto: "http")
        #expect(out.headers["x-forwarded-for"] == ["192.0.2.1"])
        #expect(!out.headers.contains(name: "x-other"))
        // Framing and Host can never be removed that way.
        let sneaky = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/", headers: [
            "Host": "a", "Connection": "content-length, host", "Content-Length": "3",
        ])
        let kept = ForwardedHeaders.upstreamHead(from: sneaky, target: "/", clientIP: nil, requestID: "r", proto: "http")
        #expect(kept.headers["content-length"] == ["3"])
        #expect(kept.headers["host"] == ["a"])
    }

    @Test func absoluteFormAuthorityReplacesHostOnce() {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "http://b.test/x", headers: ["Host": "a.test", "HOST": "c.test"])
        let out = ForwardedHeaders.upstreamHead(from: head, target: "/x", authority: "b.test", clientIP: nil, requestID: "r", proto: "http")
        #expect(out.headers["host"] == ["b.test"])
        #expect(out.headers["x-forwarded-host"] == ["b.test"])
    }

    @Test(arguments: [("abc", true), ("A-b_c.9", true), ("", false), ("a b", false), (String(repeating: "a", count: 129), false), ("é", false)])
    func requestIDValidation(_ id: String, _ valid: Bool) {
        #expect(ForwardedHeaders.isValidRequestID(id) == valid)
    }

    @Test func threeDecimalFormatting() {
        #expect(String(format3: 0.0004) == "0.000")
        #expect(String(format3: 0.0126) == "0.013")
        #expect(String(format3: 12.5) == "12.500")
    }
}
