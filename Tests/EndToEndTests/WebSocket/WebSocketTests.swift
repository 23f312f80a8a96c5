import Foundation
import LabelConfig
import NIOCore
import NIOSSL
import NIOWebSocket
import RouteModel
import Testing

extension EndToEnd {
    /// WebSockets end to end: NIO's WebSocket server behind Pier, NIO's WebSocket client (and raw sockets,
    /// and curl) in front.
    @Suite("WebSockets", .serialized, .timeLimit(.minutes(2)))
    struct WebSocketTests {
        static func chat(_ backends: [WebSocketEchoBackend], labels: [String: String] = ["hosts": "chat.test", "websocket_endpoints": "/ws"],
                         name: String = "chat") -> ServiceDescription {
            var full: [String: String] = [:]
            for (k, v) in labels { full["com.docker.lb." + k] = v }
            return ServiceDescription(name: name, labels: full, endpoints: backends.map { .init(host: "127.0.0.1", port: $0.port) })
        }

        /// A payload of `size` bytes that differs from one offset to the next.
        static func payload(_ size: Int, seed: Int) -> [UInt8] {
            (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 9) &+ seed) }
        }

        static let handshake = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

        @Test("echo through Pier: the greeting sent right behind the 101 arrives, then messages of 1 B to 16 MiB come back byte for byte")
        func echoOneByteTo16MiB() async throws {
            let backend = try await WebSocketEchoBackend.start("ws-a")
            let pier = try await InProcessPier.start([Self.chat([backend])])
            let ws = try await WebSocketTestClient.connect(port: pier.port, host: "chat.test", path: "/ws/room?id=1")
            #expect(try await ws.receiveText() == "hello from ws-a")
            for (i, size) in [1, 125, 126, 65_535, 65_536, 1 << 20, 16 << 20].enumerated() {
                let sent = Self.payload(size, seed: i)
                try await ws.send(sent)
                let echoed = try await ws.receive()
                #expect(echoed.opcode == .binary)
                #expect(Array(echoed.unmaskedData.readableBytesView) == sent, "message of \(size) bytes")
            }
            try await ws.send(text: "grüße")
            #expect(try await ws.receiveText() == "grüße")
            await ws.close()
            #expect(backend.upgrades == 1)
            await pier.stop()
            await backend.stop()
        }

        @Test("an open tunnel survives reloads; new handshakes follow the new table")
        func tunnelSurvivesReload() async throws {
            let a = try await WebSocketEchoBackend.start("ws-a")
            let b = try await WebSocketEchoBackend.start("ws-b")
            let pier = try await InProcessPier.start([Self.chat([a])])
            let ws = try await WebSocketTestClient.connect(port: pier.port, host: "chat.test", path: "/ws")
            #expect(try await ws.receiveText() == "hello from ws-a")
            try await ws.send(text: "before")
            #expect(try await ws.receiveText() == "before")
            // The service moves to another endpoint mid-stream: the open tunnel keeps its own.
            pier.publish([Self.chat([b])])
            for i in 0..<20 {
                try await ws.send(Self.payload(70_000, seed: i))
                #expect(try await ws.receive().unmaskedData.readableBytes == 70_000)
            }
            let second = try await WebSocketTestClient.connect(port: pier.port, host: "chat.test", path: "/ws")
            #expect(try await second.receiveText() == "hello from ws-b")
            // The WebSocket path is withdrawn: the open tunnels go on, a new handshake is refused.
            pier.publish([Self.chat([b], labels: ["hosts": "chat.test"])])
            try await ws.send(text: "after")
            #expect(try await ws.receiveText() == "after")
            await #expect(throws: WebSocketTestClient.Failure.self) {
                try await WebSocketTestClient.connect(port: pier.port, host: "chat.test", path: "/ws")
            }
            await ws.close()
            await second.close()
            await pier.stop()
            await a.stop()
            await b.stop()
        }

        @Test("an upgrade on a path that is not a WebSocket endpoint gets 403 and is never forwarded")
        func otherPathRefused() async throws {
            let backend = try await WebSocketEchoBackend.start("ws-a")
            let pier = try await InProcessPier.start([Self.chat([backend])])
            for path in ["/", "/wsx", "/other/ws"] {
                let reply = try rawExchange(port: pier.port, "GET \(path) HTTP/1.1\r\nHost: chat.test\r\n\(Self.handshake)\r\n")
                #expect(reply.hasPrefix("HTTP/1.1 403"), "\(path): \(reply)")
                #expect(reply.lowercased().contains("connection: close"))
                #expect(reply.contains("WebSocket upgrades are not accepted on this path"))
            }
            let post = try rawExchange(port: pier.port, "POST /ws HTTP/1.1\r\nHost: chat.test\r\nContent-Length: 2\r\n\(Self.handshake)\r\nhi")
            #expect(post.hasPrefix("HTTP/1.1 400"), "\(post)")
            #expect(backend.upgrades == 0)
            await pier.stop()
            await backend.stop()
        }

        @Test("Upgrade: h2c is never forwarded: the request is served as HTTP/1.1 without it, and the connection closes after")
        func h2cUpgradeNotForwarded() async throws {
            let backend = try await WebSocketEchoBackend.start("plain")
            let pier = try await InProcessPier.start([Self.chat([backend], labels: ["hosts": "app.test"])])
            let reply = try rawExchange(port: pier.port,
                "GET /x HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
            #expect(reply.hasPrefix("HTTP/1.1 200"), "\(reply)")
            #expect(reply.contains("backend=plain"))
            #expect(!reply.lowercased().contains("h:upgrade"))
            #expect(!reply.lowercased().contains("h:http2-settings"))
            #expect(reply.lowercased().contains("connection: close"))
            // curl's own h2c upgrade attempt gets HTTP/1.1 answers.
            let r = try curl(["-sS", "--http2", "-H", "Host: app.test", "-w", "\n%{http_version}", "http://127.0.0.1:\(pier.port)/y", "http://127.0.0.1:\(pier.port)/z"])
            #expect(r.status == 0, "\(r.err)")
            #expect(r.out.components(separatedBy: "backend=plain").count == 3, "\(r.out)")
            #expect(!r.out.lowercased().contains("h:upgrade"))
            #expect(r.out.hasSuffix("\n1.1"))
            #expect(backend.upgrades == 0)
            await pier.stop()
            await backend.stop()
        }

        @Test("a backend that does not switch protocols: its answer is relayed and the connection closes")
        func backendDeclines() async throws {
            let backend = try await TestBackend.start("http-only")
            let pier = try await InProcessPier.start([service("chat", ["hosts": "chat.test", "websocket_endpoints": "/ws"], [backend])])
            let reply = try rawExchange(port: pier.port, "GET /ws HTTP/1.1\r\nHost: chat.test\r\n\(Self.handshake)\r\n")
            #expect(reply.hasPrefix("HTTP/1.1 200"), "\(reply)")
            // The handshake went upstream with its upgrade headers restated.
            #expect(reply.contains("h:upgrade=websocket"))
            #expect(reply.contains("h:connection=upgrade"))
            #expect(reply.contains("h:sec-websocket-key=dGhlIHNhbXBsZSBub25jZQ=="))
            #expect(reply.lowercased().contains("connection: close"))
            await pier.stop()
            await backend.stop()
        }

        @Test("WebSocket over HTTPS/1.1: terminated TLS in front, the same tunnel behind")
        func overTLS() async throws {
            let pki = try TestPKI()
            defer { pki.remove() }
            let backend = try await WebSocketEchoBackend.start("ws-tls")
            let issued = try pki.issue("chat", names: ["chat.test"])
            let pier = try await InProcessPier.start([Self.chat([backend], labels: [
                "hosts": "chat.test", "websocket_endpoints": "/ws", "ssl_cert": issued.certificate, "ssl_key": issued.key,
            ])], https: true)
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .file(pki.caPath)
            configuration.applicationProtocols = ["http/1.1"]
            let ws = try await WebSocketTestClient.connect(port: pier.httpsPort!, host: "chat.test", path: "/ws",
                                                           tls: try NIOSSLContext(configuration: configuration))
            #expect(try await ws.receiveText() == "hello from ws-tls")
            let sent = Self.payload(3 << 20, seed: 7)
            try await ws.send(sent)
            #expect(Array(try await ws.receive().unmaskedData.readableBytesView) == sent)
            await ws.close()
            await pier.stop()
            await backend.stop()
        }
    }
}

extension EndToEnd.WebSocketTests {
    @Test("a tunnel that carries nothing either way for ReadTimeout closes (between one and two timeouts); a busy one stays")
    func idleTunnelCloses() async throws {
        let backend = try await WebSocketEchoBackend.start("ws-a")
        var settings = ProxySettings(accessLog: false)
        settings.readTimeout = .milliseconds(300)
        let pier = try await InProcessPier.start([Self.chat([backend])], settings: settings)
        let busy = try await WebSocketTestClient.connect(port: pier.port, host: "chat.test", path: "/ws")
        let idle = try await WebSocketTestClient.connect(port: pier.port, host: "chat.test", path: "/ws")
        #expect(try await busy.receiveText() == "hello from ws-a")
        #expect(try await idle.receiveText() == "hello from ws-a")
        let start = ContinuousClock.now
        // Busy: a message every 100 ms for 1 s, well past the timeout.
        for i in 0..<10 {
            try await busy.send(text: "tick \(i)")
            #expect(try await busy.receiveText() == "tick \(i)")
            try await Task.sleep(for: .milliseconds(100))
        }
        // Idle: closed by now (no message arrives, the stream ends).
        await #expect(throws: WebSocketTestClient.Failure.self) { _ = try await idle.receive() }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < .seconds(3), "took \(elapsed)")
        try await busy.send(text: "still here")
        #expect(try await busy.receiveText() == "still here")
        await busy.close()
        await pier.stop()
        await backend.stop()
    }
}
