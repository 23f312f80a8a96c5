import NIOHTTP1
import Testing

@testable import ProxyCore

/// Request and upstream response heads that must not be relayed as they came.
struct MessageValidationTests {
    static func request(_ headers: HTTPHeaders, uri: String = "/") -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: .POST, uri: uri, headers: headers)
    }

    @Test(arguments: [("0", true), ("10", true), ("10, 10", true), ("010", false), ("00", false), ("+1", false), ("1 0", false),
                      ("", false), ("10,", false), ("1234567890123456789", false), ("10, 11", false)])
    func requestContentLength(_ value: String, _ valid: Bool) {
        let problem = RequestValidation.problem(Self.request(["Host": "a", "Content-Length": value]))
        #expect((problem == nil) == valid, "\(value): \(problem ?? "accepted")")
    }

    @Test func headerValueBytes() {
        // U+FFFD is what NIO's decoder leaves of a byte that is not UTF-8: refused, never forwarded.
        #expect(RequestValidation.problem(Self.request(["Host": "a", "X-Name": "caf\u{FFFD}"]))?.contains("not UTF-8") == true)
        #expect(RequestValidation.problem(Self.request(["Host": "a", "X-Name": "café ✓"])) == nil)
        #expect(RequestValidation.problem(Self.request(["Host": "a", "X-Name": "a\u{7F}b"]))?.contains("invalid character") == true)
        #expect(RequestValidation.problem(Self.request(["Host": "a", "X-Name": "a\tb"])) == nil)
        #expect(RequestValidation.problem(Self.request(["Host": "a"], uri: "/caf\u{FFFD}")) == HeaderBytes.alteredTarget)
    }

    static func response(_ status: Int, _ headers: HTTPHeaders = [:]) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers)
    }

    @Test(arguments: [(0, false), (99, false), (100, true), (200, true), (599, true), (600, false), (999, false)])
    func responseStatus(_ code: Int, _ valid: Bool) {
        #expect((ResponseValidation.problem(Self.response(code)) == nil) == valid)
    }

    @Test func responseFraming() {
        #expect(ResponseValidation.problem(Self.response(200, ["Content-Length": "010"])) != nil)
        #expect(ResponseValidation.problem(Self.response(200, ["Content-Length": "2", "Content-length": "3"])) != nil)
        #expect(ResponseValidation.problem(Self.response(200, ["Content-Length": "2", "Transfer-Encoding": "chunked"])) != nil)
        #expect(ResponseValidation.problem(Self.response(200, ["Content-Length": "2"])) == nil)
        #expect(ResponseValidation.problem(Self.response(200, ["Content-Disposition": "filename=caf\u{FFFD}"])) != nil)
    }

    @Test func underscoredNamesDroppedUnlessAllowed() {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "a", "X-Auth_User": "m", "X-Auth-User": "a"])
        let dropped = ForwardedHeaders.upstreamHead(from: head, target: "/", clientIP: nil, requestID: "r", proto: "http")
        #expect(!dropped.headers.contains(name: "x-auth_user"))
        #expect(dropped.headers["x-auth-user"] == ["a"])
        let kept = ForwardedHeaders.upstreamHead(from: head, target: "/", clientIP: nil, requestID: "r", proto: "http", underscoresInHeaders: true)
        #expect(kept.headers["x-auth_user"] == ["m"])
    }
}

/// Pier's allocation-free keep-alive reading agrees with NIO's on every combination of `Connection` values.
struct KeepAliveTests {
    static let connections: [[String]] = [
        [], ["close"], ["keep-alive"], ["Keep-Alive"], ["CLOSE"], ["close, keep-alive"], ["keep-alive", "keep-alive"],
        ["keep-alive, keep-alive"], ["upgrade"], ["Upgrade, Keep-Alive"], [" close "], ["x-foo", "close"], [""], [",,"],
        ["keep-alive,close"], ["keep-alives"],
    ]

    @Test(arguments: connections)
    func agreesWithNIO(_ values: [String]) {
        for minor in [0, 1] {
            let version = HTTPVersion(major: 1, minor: minor)
            let headers = HTTPHeaders([("Host", "a")] + values.map { ("Connection", $0) })
            let nio = HTTPRequestHead(version: version, method: .GET, uri: "/", headers: headers).isKeepAlive
            #expect(headers.keepsAlive(version: version) == nio, "\(values) HTTP/1.\(minor)")
        }
    }
}
