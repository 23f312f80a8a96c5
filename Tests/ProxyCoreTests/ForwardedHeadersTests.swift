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
        #expect(!out.headers.contains(name: "transfer-encoding"))
        #expect(out.headers["x-app"] == ["v"])
        #expect(out.headers["connection"] == ["close"])
        #expect(out.headers["x-upstream-addr"] == ["10.0.0.1:80"])
        #expect(out.headers["x-proxy-id"] == ["p1"])
        #expect(out.headers["x-upstream-response-time"] == ["0.001"])
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
