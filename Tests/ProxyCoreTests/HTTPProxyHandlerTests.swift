import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import RouteModel
import Testing

@testable import ProxyCore

/// Drives the downstream pipeline with raw bytes on an `EmbeddedChannel`: everything decided before an
/// upstream is needed (validation, local answers, limits) is checked here, byte for byte.
struct HTTPProxyHandlerTests {
    /// A table with one route to an endpoint nothing listens on: a request that reaches routing for
    /// `app.test` would need an upstream, which these tests assert never happens for bad input.
    static func table(settings: ProxySettings = ProxySettings(accessLog: false)) -> RouteTable {
        let pool = BackendPool(id: 0, services: ["app"], endpoints: [])
        let route = Route(host: .exact("app.test"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 0), services: ["app"])
        let redirect = Route(host: .exact("old.test"), contextRoot: "/", stripContextRoot: false,
                             action: .redirect(target: "http://new.test", status: 302), services: ["app"])
        return RouteTable(generation: 1, content: .init(routes: [route, redirect], pools: [pool], defaultRoute: nil, settings: settings))
    }

    final class Harness {
        let channel = EmbeddedChannel()
        let loop: LoopState
        init(table: RouteTable = HTTPProxyHandlerTests.table(), http1: HTTP1Implementation = .pier) throws {
            let loop = LoopState(eventLoop: channel.eventLoop, http1: http1)
            self.loop = loop
            try ProxyServer.configureDownstream(
                channel: channel, tables: RouteTableBox(table), loop: loop,
                accessLogger: Logger(label: "test"), maxHeaderSize: table.settings.maxHeaderSize, downstream: .http)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        }

        /// Sends `request` and returns everything written back.
        func exchange(_ request: String) throws -> String {
            _ = try? channel.writeInbound(channel.allocator.buffer(string: request))
            var out = ""
            // Pipelined requests are released by `read()` once the previous response ended, as NIO's
            // pipelining assistant does on a real channel.
            for _ in 0..<10 {
                var got = false
                while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                    out += String(buffer: buffer)
                    got = true
                }
                guard got, channel.isActive else { break }
                channel.read()
            }
            return out
        }
    }

    static let rejected: [(String, String)] = [
        ("both Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("two different Content-Length", "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
        ("Content-Length list that disagrees", "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3, 4\r\n\r\nabcd"),
        ("invalid Transfer-Encoding", "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: gzip\r\n\r\n"),
        ("chunked not last", "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        ("NUL in a header value", "GET / HTTP/1.1\r\nHost: app.test\r\nX-A: a\u{0}b\r\n\r\n"),
        ("bare CR in a header value", "GET / HTTP/1.1\r\nHost: app.test\r\nX-A: a\rb\r\n\r\n"),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: app.test\r\nX-A: a\r\n  folded\r\n\r\n"),
        ("missing Host on HTTP/1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"),
        ("two Host headers", "GET / HTTP/1.1\r\nHost: app.test\r\nHost: other.test\r\n\r\n"),
        ("space before colon", "GET / HTTP/1.1\r\nHost : app.test\r\n\r\n"),
        ("garbage request line", "GET\r\n\r\n"),
        ("target that is neither a path nor a URL", "GET app.test HTTP/1.1\r\nHost: app.test\r\n\r\n"),
    ]

    @Test("ambiguous or malformed requests get 400 and the connection closes", arguments: rejected)
    func rejectsAmbiguousRequests(_ name: String, _ request: String) throws {
        // Pier's codec, and NIO's behind `--http1-codec nio` (the previous data plane, kept as a setting).
        for http1 in HTTP1Implementation.allCases {
            let h = try Harness(http1: http1)
            let response = try h.exchange(request)
            #expect(response.hasPrefix("HTTP/1.1 400 "), "\(name) (\(http1)): \(response)")
            #expect(!h.channel.isActive, "\(name) (\(http1)): connection must close after a 400")
        }
    }

    @Test("keep-alive requests are served by one recycled exchange object: given back when it ends, taken by the next")
    func exchangesAreRecycled() throws {
        let h = try Harness()
        for round in 1...3 {
            let response = try h.exchange("GET /a HTTP/1.1\r\nHost: old.test\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 302 "), "\(response)")
            #expect(h.loop.exchanges.count == 1)
            #expect(h.loop.exchanges.reuses == round - 1)
        }
    }

    @Test("both codecs answer pipelined requests in order", arguments: HTTP1Implementation.allCases)
    func pipelinedAnswersOnBothCodecs(_ http1: HTTP1Implementation) throws {
        let h = try Harness(http1: http1)
        let response = try h.exchange("GET /1 HTTP/1.1\r\nHost: old.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: nowhere.test\r\n\r\n"
                                      + "GET /3 HTTP/1.1\r\nHost: old.test\r\n\r\n")
        let statuses = response.components(separatedBy: "\n").filter { $0.hasPrefix("HTTP/1.1 ") }
        #expect(statuses.map { String($0.prefix(12)) } == ["HTTP/1.1 302", "HTTP/1.1 503", "HTTP/1.1 302"], "\(response)")
        let head = try Harness(http1: http1).exchange("HEAD / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 503 ") && head.hasSuffix("\r\n\r\n"), "the HEAD answer carried a body: \(head)")
    }

    @Test func headerSectionOverLimitGets431() throws {
        var settings = ProxySettings(accessLog: false)
        settings.maxHeaderSize = 1024
        let h = try Harness(table: Self.table(settings: settings))
        let big = String(repeating: "a", count: 2000)
        let response = try h.exchange("GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: \(big)\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 431 "), "\(response)")
    }

    @Test func bodyOverLimitGets413WithoutReadingIt() throws {
        var settings = ProxySettings(accessLog: false)
        settings.clientMaxBodySize = 10
        let h = try Harness(table: Self.table(settings: settings))
        let response = try h.exchange("POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 11\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 413 "), "\(response)")
        #expect(response.lowercased().contains("connection: close"))
    }

    @Test func unknownHostGets503WithRequestID() throws {
        let h = try Harness()
        let response = try h.exchange("GET / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 503 "), "\(response)")
        #expect(response.contains("x-request-id: "))
        #expect(h.channel.isActive, "a 503 keeps the connection")
    }

    @Test func clientRequestIDIsKeptWhenValid() throws {
        let h = try Harness()
        let response = try h.exchange("GET / HTTP/1.1\r\nHost: nowhere.test\r\nX-Request-Id: abc-123\r\n\r\n")
        #expect(response.contains("x-request-id: abc-123\r\n"))
        let other = try h.exchange("GET / HTTP/1.1\r\nHost: nowhere.test\r\nX-Request-Id: <script>\r\n\r\n")
        #expect(!other.contains("<script>"))
    }

    @Test func redirectKeepsPathAndQuery() throws {
        let h = try Harness()
        let response = try h.exchange("GET /p/q?x=1&y=2 HTTP/1.1\r\nHost: OLD.test:8080\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 302 "), "\(response)")
        #expect(response.contains("location: http://new.test/p/q?x=1&y=2\r\n"))
    }

    @Test func absoluteFormTargetRoutesByItsAuthority() throws {
        let h = try Harness()
        let response = try h.exchange("GET http://old.test/z HTTP/1.1\r\nHost: ignored.test\r\n\r\n")
        #expect(response.contains("location: http://new.test/z\r\n"), "\(response)")
    }

    @Test func pipelinedLocalAnswersComeBackInOrder() throws {
        let h = try Harness()
        let response = try h.exchange(
            "GET /1 HTTP/1.1\r\nHost: old.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: nowhere.test\r\n\r\nGET /3 HTTP/1.1\r\nHost: old.test\r\n\r\n")
        let statuses = response.components(separatedBy: "\n").filter { $0.hasPrefix("HTTP/1.1 ") }
        #expect(statuses.map { String($0.prefix(12)) } == ["HTTP/1.1 302", "HTTP/1.1 503", "HTTP/1.1 302"])
        #expect(response.range(of: "new.test/1")!.lowerBound < response.range(of: "new.test/3")!.lowerBound)
    }

    @Test func routeWithoutEndpointsGets503() throws {
        let h = try Harness()
        let response = try h.exchange("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 503 "), "\(response)")
        #expect(response.contains("no running endpoint"))
    }

    @Test func unsupportedExpectationGets417() throws {
        let h = try Harness()
        let response = try h.exchange("POST / HTTP/1.1\r\nHost: app.test\r\nExpect: something\r\nContent-Length: 0\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 417 "), "\(response)")
    }

    @Test func http10WithoutHostIsAccepted() throws {
        let h = try Harness()
        let response = try h.exchange("GET / HTTP/1.0\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.0 503 "), "\(response)")
    }

    @Test func hideInfoHeadersHidesThem() throws {
        var settings = ProxySettings(accessLog: false)
        settings.hideInfoHeaders = true
        let h = try Harness(table: Self.table(settings: settings))
        let response = try h.exchange("GET / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n")
        #expect(!response.contains("x-request-id"))
        #expect(!response.contains("x-server-info"))
    }
}

extension HTTPProxyHandlerTests {
    @Test("the handler lets go of its context when removed: a closed connection leaves no handler behind")
    func noRetainCycleAfterClose() throws {
        weak var handler: HTTPProxyHandler?
        do {
            let harness = try Harness()
            handler = try harness.channel.pipeline.syncOperations.handler(type: HTTPProxyHandler.self)
            #expect(try harness.exchange("GET / HTTP/1.1\r\nHost: old.test\r\n\r\n").hasPrefix("HTTP/1.1 302"))
            _ = try? harness.channel.finish()
        }
        #expect(handler == nil, "the handler and its context kept each other alive")
    }
}
