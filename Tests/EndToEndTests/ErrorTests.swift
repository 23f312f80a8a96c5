import AsyncHTTPClient
import Foundation
import LabelConfig
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import RouteModel
import Testing

extension EndToEnd {
    /// Each error status Pier produces, caused for real: dead, rude and silent upstreams, oversized and
    /// malformed requests.
    @Suite(.serialized)
    struct ErrorTests {
        @Test func refusedUpstreamIs502() async throws {
            let port = try await refusedPort()
            let pier = try await InProcessPier.start([
                ServiceDescription(name: "dead", labels: ["com.docker.lb.hosts": "dead.test"], endpoints: [.init(host: "127.0.0.1", port: port)]),
            ])
            let reply = try await request(pier, host: "dead.test", "/")
            #expect(reply.status == 502)
            #expect(reply.body.contains("refused"))
            await pier.stop()
        }

        @Test func upstreamClosingBeforeResponseIs502() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])])
            // Both requests on one client connection: it survives the 502 and the next request is served on it.
            let reply = try rawExchange(port: pier.port, "GET /close HTTP/1.1\r\nHost: app.test\r\n\r\n"
                                        + "GET /fine HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
            #expect(reply.hasPrefix("HTTP/1.1 502 "), "\(reply)")
            #expect(reply.contains("HTTP/1.1 200 ") && reply.contains("backend=app"), "\(reply)")
            await pier.stop()
            await app.stop()
        }

        @Test func silentUpstreamIs504AfterReadTimeout() async throws {
            let app = try await TestBackend.start("app")
            var settings = ProxySettings(accessLog: false)
            settings.readTimeout = .milliseconds(500)
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])], settings: settings)
            let start = ContinuousClock.now
            let reply = try await request(pier, host: "app.test", "/hang")
            let elapsed = ContinuousClock.now - start
            #expect(reply.status == 504)
            #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(5), "took \(elapsed)")
            // A slow but timely upstream is fine: the timeout is between reads, not a deadline.
            #expect(try await request(pier, host: "app.test", "/slow/200").status == 200)
            await pier.stop()
            await app.stop()
        }

        @Test func bodiesOverClientMaxBodySizeAre413() async throws {
            let app = try await TestBackend.start("app")
            var settings = ProxySettings(accessLog: false)
            settings.clientMaxBodySize = 1000
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])], settings: settings)
            // Declared length over the limit: refused before the body is read.
            let sized = try curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: app.test", "--data-binary", String(repeating: "x", count: 1001), "\(pier.base)/upload"])
            #expect(sized.out == "413")
            // Chunked body that grows past the limit.
            let chunked = try curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: app.test", "-H", "Transfer-Encoding: chunked",
                                    "--data-binary", String(repeating: "x", count: 5000), "\(pier.base)/upload"])
            #expect(chunked.out == "413")
            // At the limit: forwarded.
            let ok = try curl(["-H", "Host: app.test", "--data-binary", String(repeating: "x", count: 1000), "\(pier.base)/upload"])
            #expect(ok.out == "received=1000\n")
            await pier.stop()
            await app.stop()
        }

        @Test func oversizedHeadersAre431AndMalformedRequestsAre400NeverForwarded() async throws {
            let app = try await TestBackend.start("app")
            var settings = ProxySettings(accessLog: false)
            settings.maxHeaderSize = 4096
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])], settings: settings)
            let big = try curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: app.test", "-H", "X-Big: " + String(repeating: "b", count: 8000), "\(pier.base)/"])
            #expect(big.out == "431")
            let smuggle = try rawExchange(port: pier.port, "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n")
            #expect(smuggle.hasPrefix("HTTP/1.1 400 "))
            #expect(!smuggle.contains("backend=app"))
            let noHost = try rawExchange(port: pier.port, "GET / HTTP/1.1\r\n\r\n")
            #expect(noHost.hasPrefix("HTTP/1.1 400 "))
            let fold = try rawExchange(port: pier.port, "GET / HTTP/1.1\r\nHost: app.test\r\nX-A: 1\r\n 2\r\n\r\n")
            #expect(fold.hasPrefix("HTTP/1.1 400 "))
            #expect(app.requests == 0, "a malformed request reached the backend")
            await pier.stop()
            await app.stop()
        }

        @Test func expectContinueIsAnsweredByPier() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])])
            let r = try curl(["-v", "-H", "Host: app.test", "-H", "Expect: 100-continue", "--data-binary", String(repeating: "y", count: 2048), "\(pier.base)/upload"])
            #expect(r.err.contains("100 Continue"))
            #expect(r.out == "received=2048\n")
            await pier.stop()
            await app.stop()
        }

        @Test func reusedConnectionClosedBeforeAnsweringIsRetriedOnAFreshOne() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])])
            #expect(try await request(pier, host: "app.test", "/flaky").status == 200)
            #expect(app.connections == 1)
            // Pier reuses the pooled connection; the backend closes it without answering, as a server whose
            // keep-alive timer fired would. The request never reached the application: retried, not failed.
            #expect(try await request(pier, host: "app.test", "/flaky").status == 200)
            #expect(app.connections == 2)
            #expect(app.requests == 3)
            await pier.stop()
            await app.stop()
        }

        @Test func stalledRequestBodyGets408AndFreesTheConnection() async throws {
            let app = try await TestBackend.start("app")
            var settings = ProxySettings(accessLog: false)
            settings.clientBodyTimeout = .milliseconds(400)
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])], settings: settings)
            let start = ContinuousClock.now
            // Announces 100 bytes, sends 5, then stalls.
            let reply = try rawExchange(port: pier.port, "POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\nhello")
            let elapsed = ContinuousClock.now - start
            #expect(reply.hasPrefix("HTTP/1.1 408 "), "\(reply)")
            #expect(elapsed < .seconds(3), "took \(elapsed)")
            await pier.stop()
            await app.stop()
        }

        @Test("a client sending its headers one byte at a time is cut off after the header timeout (408) while others are served; an idle connection is not")
        func slowlorisIsCutOffAfterTheHeaderTimeout() async throws {
            let app = try await TestBackend.start("app")
            var settings = ProxySettings(accessLog: false)
            settings.clientHeaderTimeout = .seconds(1)
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])], settings: settings)
            let slow = try SlowClient(port: pier.port)
            let start = ContinuousClock.now
            let sender = Task.detached { slow.drip("GET / HTTP/1.1\r\nHost: app.test\r\nX-Padding: " + String(repeating: "p", count: 200) + "\r\n\r\n", every: .milliseconds(100)) }
            // Others are served meanwhile, on new and on idle-then-used connections.
            let idle = try SlowClient(port: pier.port)
            for _ in 0..<5 {
                #expect(try curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: app.test", "http://127.0.0.1:\(pier.port)/"]).out == "200")
                try await Task.sleep(for: .milliseconds(300))
            }
            let (reply, closedAfter) = await sender.value
            #expect(reply.hasPrefix("HTTP/1.1 408 "), "\(reply)")
            #expect(reply.contains("the request head did not arrive within 1.0 s"))
            #expect(closedAfter >= .milliseconds(900) && closedAfter < .seconds(3), "cut off after \(closedAfter)")
            #expect(ContinuousClock.now - start < .seconds(5))
            // The connection that sent nothing for 1.5 s (past the header timeout, within keep-alive) still serves.
            let late = idle.drip("GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n", every: .zero)
            #expect(late.reply.hasPrefix("HTTP/1.1 200 "), "\(late.reply)")
            await pier.stop()
            await app.stop()
        }

        @Test func connectionHeaderCannotStripFraming() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])])
            // If `Connection: content-length` removed the length, the body would become a second request upstream.
            let body = "GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"
            let reply = try rawExchange(port: pier.port,
                "POST /upload HTTP/1.1\r\nHost: app.test\r\nConnection: content-length, close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(reply.contains("received=\(body.utf8.count)"), "\(reply)")
            try await Task.sleep(for: .milliseconds(100))
            #expect(app.requests == 1, "the body was read as a request")
            await pier.stop()
            await app.stop()
        }

        @Test func nonIdempotentRequestsAreNotRetried() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])])
            #expect(try await request(pier, host: "app.test", "/flaky").status == 200)
            // The pooled connection is closed by the backend after reading the request: a POST may have had an
            // effect, so it is answered 502 rather than sent twice.
            #expect(try await request(pier, host: "app.test", "/flaky", method: .POST, body: "x").status == 502)
            #expect(app.requests == 2)
            await pier.stop()
            await app.stop()
        }

        @Test func absoluteFormTargetSetsTheUpstreamHost() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])])
            let reply = try rawExchange(port: pier.port, "GET http://app.test/abs?x=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n")
            let fields = echoFields(String(reply[reply.range(of: "\r\n\r\n")!.upperBound...]))
            #expect(fields["uri"] == "/abs?x=1")
            #expect(fields["h:host"] == "app.test")
            #expect(fields["h:x-forwarded-host"] == "app.test")
            await pier.stop()
            await app.stop()
        }

        @Test func upstreamNotTakingTheBodyGets504AfterTheSendTimeout() async throws {
            let app = try await TestBackend.start("app")
            var settings = ProxySettings(clientMaxBodySize: 0, accessLog: false)
            settings.sendTimeout = .milliseconds(500)
            settings.clientBodyTimeout = .milliseconds(300)
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])], settings: settings)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let upload = dir.appendingPathComponent("body.bin")
            try Data(repeating: 0x61, count: 64 << 20).write(to: upload)
            let start = ContinuousClock.now
            let r = try curl(["-w", "\n%{http_code}", "-H", "Host: app.test", "-T", upload.path, "\(pier.base)/noread"])
            let elapsed = ContinuousClock.now - start
            // 504 from Pier (not 408: the client kept sending; the upstream stopped taking the body).
            #expect(r.out.hasSuffix("\n504"), "\(r)")
            #expect(r.out.contains("did not take the request body within the send timeout"))
            #expect(elapsed < .seconds(10), "took \(elapsed)")
            await pier.stop()
            await app.stop()
        }
    }
}
