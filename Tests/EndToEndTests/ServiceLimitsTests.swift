import Foundation
import LabelConfig
import NIOCore
import RouteModel
import Testing

extension EndToEnd {
    /// Per-service timeouts and limits (Pier extension labels) next to a service on the global settings, and
    /// active health probes.
    @Suite("Per-service limits and active health", .serialized, .timeLimit(.minutes(2)))
    struct ServiceLimitsTests {
        /// A port on 127.0.0.1 whose new connections never complete: its listener's accept queue (backlog 0) is
        /// full with one connection nobody accepts, and the kernel drops further SYNs.
        static func unansweredPort() throws -> (port: Int, release: () -> Void) {
            let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
            }
            guard bound, listen(listener, 0) == 0 else { throw TestFailure("listen failed") }
            let port = Int(UInt16(bigEndian: address.sin_port))
            let filler = try loopbackSocket(port: port)
            return (port, { close(filler); close(listener) })
        }

        @Test("pier.connect_timeout: 504 when an endpoint does not accept in time; with another endpoint the request goes there")
        func connectTimeout() async throws {
            let (port, release) = try Self.unansweredPort()
            defer { release() }
            let good = try await TestBackend.start("good")
            let silent = ServiceDescription.Address(host: "127.0.0.1", port: port)
            let pier = try await InProcessPier.start([
                ServiceDescription(name: "alone", labels: ["com.docker.lb.hosts": "alone.test", "com.docker.lb.pier.connect_timeout": "300ms"],
                                   endpoints: [silent]),
                ServiceDescription(name: "pair", labels: ["com.docker.lb.hosts": "pair.test", "com.docker.lb.pier.connect_timeout": "300ms"],
                                   endpoints: [silent, .init(host: "127.0.0.1", port: good.port)]),
            ])
            let start = ContinuousClock.now
            let reply = try await request(pier, host: "alone.test", "/")
            let elapsed = ContinuousClock.now - start
            #expect(reply.status == 504)
            #expect(reply.body.contains("did not accept the connection in time"))
            #expect(elapsed >= .milliseconds(280) && elapsed < .seconds(3), "took \(elapsed)")
            for _ in 0..<4 { #expect(try await request(pier, host: "pair.test", "/").status == 200) }
            await pier.stop()
            await good.stop()
        }

        @Test("pier.read_timeout: a hanging endpoint gets 504 after its service's read timeout; another service keeps the global one")
        func readTimeout() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([
                service("quick", ["hosts": "quick.test", "pier.read_timeout": "300ms"], [app]),
                service("patient", ["hosts": "patient.test"], [app]),
            ])
            let start = ContinuousClock.now
            let reply = try await request(pier, host: "quick.test", "/hang")
            let elapsed = ContinuousClock.now - start
            #expect(reply.status == 504)
            #expect(elapsed >= .milliseconds(280) && elapsed < .seconds(3), "took \(elapsed)")
            #expect(try await request(pier, host: "patient.test", "/slow/800").status == 200)
            await pier.stop()
            await app.stop()
        }

        @Test("pier.max_body_size: 413 over the service's limit; another service takes the same body")
        func maxBodySize() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([
                service("small", ["hosts": "small.test", "pier.max_body_size": "1k"], [app]),
                service("large", ["hosts": "large.test"], [app]),
            ])
            let body = String(repeating: "x", count: 2048)
            let refused = try await request(pier, host: "small.test", "/upload", method: .POST, body: body)
            #expect(refused.status == 413)
            #expect(refused.body.contains("over the 1024-byte limit"))
            let taken = try await request(pier, host: "large.test", "/upload", method: .POST, body: body)
            #expect(taken.body == "received=2048\n")
            // Chunked, no Content-Length: the limit applies as the body streams.
            let r = try curl(["-sS", "-H", "Host: small.test", "-H", "Transfer-Encoding: chunked", "--data-binary", body, "-w", "\n%{http_code}", pier.base + "/upload"])
            #expect(r.out.hasSuffix("\n413"), "\(r.out)")
            await pier.stop()
            await app.stop()
        }

        @Test("KeepaliveTimeout and pier.keepalive_timeout: an idle client connection closes after its last service's keep-alive timeout")
        func keepaliveTimeout() async throws {
            let app = try await TestBackend.start("app")
            // Global 300 ms: one service keeps it, the other lengthens it to 10 s.
            var settings = ProxySettings(accessLog: false)
            settings.keepaliveTimeout = .milliseconds(300)
            let pier = try await InProcessPier.start([
                service("brief", ["hosts": "brief.test"], [app]),
                service("steady", ["hosts": "steady.test", "pier.keepalive_timeout": "10s"], [app]),
            ], settings: settings)
            for (host, closes) in [("brief.test", true), ("steady.test", false)] {
                let start = ContinuousClock.now
                // Reads the response, then waits: the connection ends (closes) or the 2 s socket timeout does.
                let reply = try rawExchange(port: pier.port, "GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n", timeout: 2)
                let elapsed = ContinuousClock.now - start
                #expect(reply.hasPrefix("HTTP/1.1 200"))
                if closes {
                    #expect(elapsed >= .milliseconds(250) && elapsed < .milliseconds(1_500), "\(host): closed after \(elapsed)")
                } else {
                    #expect(elapsed >= .milliseconds(1_900), "\(host): closed after \(elapsed)")
                }
            }
            await pier.stop()
            await app.stop()
        }

        @Test("pier.client_body_timeout and pier.send_timeout: a stalled body gets 408, an upstream not reading it 504, on the service's own timeouts")
        func bodyTimeouts() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([
                service("strict", ["hosts": "strict.test", "pier.client_body_timeout": "300ms", "pier.send_timeout": "500ms",
                                   "pier.max_body_size": "0"], [app]),
            ])
            let start = ContinuousClock.now
            let reply = try rawExchange(port: pier.port, "POST /upload HTTP/1.1\r\nHost: strict.test\r\nContent-Length: 100\r\n\r\nhello")
            #expect(reply.hasPrefix("HTTP/1.1 408 "), "\(reply)")
            #expect(ContinuousClock.now - start < .seconds(3))
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let upload = dir.appendingPathComponent("body.bin")
            try Data(repeating: 0x61, count: 64 << 20).write(to: upload)
            let r = try curl(["-w", "\n%{http_code}", "-H", "Host: strict.test", "-T", upload.path, "\(pier.base)/noread"])
            #expect(r.out.hasSuffix("\n504"), "\(r.out.suffix(200))")
            await pier.stop()
            await app.stop()
        }

        @Test("pier.upstream_idle_timeout: pooled connections to the service's endpoints close after its own idle timeout")
        func upstreamIdleTimeout() async throws {
            let short = try await TestBackend.start("short")
            let long = try await TestBackend.start("long")
            let pier = try await InProcessPier.start([
                service("short", ["hosts": "short.test", "pier.upstream_idle_timeout": "200ms"], [short]),
                service("long", ["hosts": "long.test"], [long]),
            ])
            for host in ["short.test", "long.test"] { #expect(try await request(pier, host: host, "/").status == 200) }
            try await Task.sleep(for: .milliseconds(800))
            for host in ["short.test", "long.test"] { #expect(try await request(pier, host: host, "/").status == 200) }
            #expect(short.connections == 2, "the idle connection was closed, a new one opened")
            #expect(long.connections == 1, "the idle connection was reused")
            await pier.stop()
            await short.stop()
            await long.stop()
        }

        @Test("active health: an endpoint failing its probe leaves rotation and comes back once it passes")
        func activeHealth() async throws {
            let sick = try await TestBackend.start("sick")
            let well = try await TestBackend.start("well")
            let pier = try await InProcessPier.start([service("app", [
                "hosts": "app.test", "pier.health_path": "/healthz", "pier.health_interval": "100ms", "pier.health_timeout": "500ms",
                "max_fails": "0",
            ], [sick, well])])
            func spread() async -> [String: Int] {
                BalancingTests.counts(await BalancingTests.load(pier, host: "app.test", count: 40, workers: 1))
            }
            #expect(await spread() == ["sick": 20, "well": 20])
            sick.healthy = false
            try await Task.sleep(for: .milliseconds(600))
            #expect(await spread() == ["well": 40], "the failing endpoint left rotation")
            sick.healthy = true
            try await Task.sleep(for: .milliseconds(600))
            let back = await spread()
            #expect(back["sick", default: 0] >= 15, "it came back: \(back)")
            // Every endpoint failing: the pool keeps serving rather than answering 503.
            sick.healthy = false
            well.healthy = false
            try await Task.sleep(for: .milliseconds(600))
            let degraded = await spread()
            #expect(degraded.keys.allSatisfy { $0 == "sick" || $0 == "well" }, "\(degraded)")
            await pier.stop()
            await sick.stop()
            await well.stop()
        }
    }
}
