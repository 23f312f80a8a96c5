import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import RouteModel
import Testing

extension EndToEnd {
    /// What Pier's HTTP/2 does with clients that abuse it, leave, or outstay: a frame-level client
    /// (`HTTP2FrameClient`) against the HTTPS entrypoint, the limits read off the wire.
    @Suite("HTTP/2 connections: limits, errors, idle close and drain", .serialized)
    struct HTTP2LimitsTests {
        /// Pier serving a.test over HTTPS (a CA and certificate of its own, a backend) for one test.
        struct Fixture {
            let pki: TestPKI
            let backend: TestBackend
            let pier: InProcessPier

            static func start(settings: ProxySettings = ProxySettings(accessLog: false), threads: Int = 2) async throws -> Fixture {
                let pki = try TestPKI()
                let backend = try await TestBackend.start("app")
                let a = try pki.issue("a", names: ["a.test"])
                let pier = try await InProcessPier.start([service("a", ["hosts": "a.test", "ssl_cert": a.certificate, "ssl_key": a.key], [backend])],
                                                         settings: settings, https: true, threads: threads)
                return Fixture(pki: pki, backend: backend, pier: pier)
            }

            /// A new HTTP/2 connection to Pier, SNI a.test.
            func connect(validateHeaders: Bool = true) async throws -> HTTP2FrameClient {
                try await HTTP2FrameClient.connect(port: pier.httpsPort!, serverName: "a.test", caPath: pki.caPath, validateHeaders: validateHeaders)
            }

            func stop() async {
                await pier.stop()
                await backend.stop()
            }
        }

        /// Asks for `/` on `stream` and expects it answered 200 with the connection still open and no GOAWAY.
        static func expectServes(_ h2: HTTP2FrameClient, stream: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try await h2.send([HTTP2FrameClient.get(stream, "a.test", "/")])
            let id = HTTP2StreamID(stream)
            #expect(try await h2.wait { _, _ in h2.ended(id) }, "stream \(stream) not answered: \(h2.frames.suffix(3))", sourceLocation: sourceLocation)
            #expect(h2.status(of: id) == "200", sourceLocation: sourceLocation)
            #expect(h2.goAway == nil && !h2.closed, "\(h2.frames.suffix(3))", sourceLocation: sourceLocation)
        }

        /// A stream opened and cancelled at once, as in the rapid reset attack (CVE-2023-44487).
        static func openAndReset(_ stream: Int) -> [HTTP2Frame] {
            [HTTP2FrameClient.get(stream, "a.test", "/slow/200"), HTTP2Frame(streamID: HTTP2StreamID(stream), payload: .rstStream(.cancel))]
        }

        @Test("rapid reset: 190 streams opened and reset leave the connection serving; past 200 resets it ends with GOAWAY ENHANCE_YOUR_CALM")
        func rapidReset() async throws {
            let f = try await Fixture.start()
            defer { f.pki.remove() }
            let h2 = try await f.connect()

            // Client stream ids are odd: stream n is 2n + 1.
            try await h2.send((0..<190).flatMap { Self.openAndReset(2 * $0 + 1) })
            try await Self.expectServes(h2, stream: 2 * 190 + 1)

            // Twenty more: the 201st reset within 30 s is one too many.
            try await h2.send((191..<211).flatMap { Self.openAndReset(2 * $0 + 1) })
            #expect(try await h2.wait { _, closed in closed }, "still open after 210 resets")
            #expect(h2.goAway?.code == .enhanceYourCalm, "\(h2.frames.suffix(3))")

            // Another connection is not affected.
            let next = try await f.connect()
            try await Self.expectServes(next, stream: 1)
            await next.close()
            await f.stop()
        }

        @Test("a malformed request on one stream resets that stream only: the stream beside it is answered, no GOAWAY, the connection serves on")
        func streamErrorKeepsTheConnection() async throws {
            let f = try await Fixture.start()
            defer { f.pki.remove() }
            // This client sends what NIO's validation would refuse to: an upper-case name, a connection header.
            let h2 = try await f.connect(validateHeaders: false)
            try await h2.send([HTTP2FrameClient.get(1, "a.test", "/slow/1500")])
            try await Task.sleep(for: .milliseconds(200))
            try await h2.send([HTTP2FrameClient.get(3, "a.test", "/", extra: [("Connection", "close")])])
            #expect(try await h2.wait { _, _ in h2.reset(of: 3) != nil }, "no reset for the malformed stream: \(h2.frames.suffix(3))")
            #expect(h2.reset(of: 3) == .protocolError)
            #expect(try await h2.wait(timeout: .seconds(5)) { _, _ in h2.ended(1) }, "the stream beside it was not answered")
            #expect(h2.status(of: 1) == "200")
            try await Self.expectServes(h2, stream: 5)
            await h2.close()
            await f.stop()
        }

        @Test("the upstream gets an HTTP/1.1 head: Host from :authority, cookie crumbs as one Cookie field; a Host that contradicts :authority resets the stream")
        func requestHeadsReachHTTP1Upstreams() async throws {
            let f = try await Fixture.start()
            defer { f.pki.remove() }
            let h2 = try await f.connect()
            try await h2.send([HTTP2FrameClient.get(1, "a.test", "/echo", extra: [("cookie", "a=1"), ("accept", "*/*"), ("cookie", "b=2")])])
            #expect(try await h2.wait { _, _ in h2.ended(1) }, "\(h2.frames.suffix(3))")
            #expect(h2.status(of: 1) == "200")
            let echoed = h2.body(of: 1).split(separator: "\n")
            #expect(echoed.filter { $0.hasPrefix("h:cookie=") } == ["h:cookie=a=1; b=2"], "\(echoed)")
            #expect(echoed.filter { $0.hasPrefix("h:host=") } == ["h:host=a.test"], "\(echoed)")
            // RFC 9113 §8.3.1: a Host field naming another authority makes the request malformed.
            let forwarded = f.backend.requests
            try await h2.send([HTTP2FrameClient.get(3, "a.test", "/", extra: [("host", "b.test")])])
            #expect(try await h2.wait { _, _ in h2.reset(of: 3) != nil }, "no reset: \(h2.frames.suffix(3))")
            #expect(h2.reset(of: 3) == .protocolError)
            #expect(f.backend.requests == forwarded, "the malformed request reached the upstream")
            // The same authority written otherwise (case, the scheme's default port) is no contradiction.
            try await h2.send([HTTP2FrameClient.get(5, "a.test", "/", extra: [("host", "A.TEST:443")])])
            #expect(try await h2.wait { _, _ in h2.ended(5) }, "\(h2.frames.suffix(3))")
            #expect(h2.status(of: 5) == "200")
            // CONNECT (an authority, no path) is answered as over HTTP/1.1: Pier tunnels no CONNECT.
            let connect = HPACKHeaders([(":method", "CONNECT"), (":authority", "a.test:443")])
            try await h2.send([HTTP2Frame(streamID: 7, payload: .headers(.init(headers: connect, endStream: true)))])
            #expect(try await h2.wait { _, _ in h2.ended(7) || h2.reset(of: 7) != nil }, "\(h2.frames.suffix(3))")
            #expect(h2.status(of: 7) == "400")
            try await Self.expectServes(h2, stream: 9)
            await h2.close()
            await f.stop()
        }

        @Test("HEAD answered by Pier itself on HTTP/2: one HEADERS frame with END_STREAM, no body; the connection serves on")
        func headAnsweredLocally() async throws {
            let f = try await Fixture.start()
            defer { f.pki.remove() }
            let h2 = try await f.connect()
            try await h2.send([HTTP2FrameClient.get(1, "nowhere.test", "/", method: "HEAD")])
            #expect(try await h2.wait { _, _ in h2.ended(1) }, "\(h2.frames.suffix(3))")
            // 421: a.test's certificate does not serve nowhere.test — answered by Pier, not an upstream.
            #expect(h2.status(of: 1) == "421")
            #expect(h2.frames.filter { $0.streamID == 1 }.count == 1, "\(h2.frames.filter { $0.streamID == 1 })")
            #expect(h2.reset(of: 1) == nil)
            try await Self.expectServes(h2, stream: 3)
            await h2.close()
            await f.stop()
        }

        @Test("backpressure: a client that grants no flow-control window stops Pier reading the upstream; granting it lets the rest through")
        func slowReaderHoldsTheUpstream() async throws {
            let f = try await Fixture.start()
            defer { f.pki.remove() }
            // This client never sends WINDOW_UPDATE on its own: the stream may carry the initial 64 KiB.
            let h2 = try await f.connect()
            let total = 64 << 20
            try await h2.send([HTTP2FrameClient.get(1, "a.test", "/download/\(total)")])
            #expect(try await h2.wait { _, _ in h2.status(of: 1) != nil })
            // Let it settle: without backpressure Pier would take all 64 MiB from the backend in about a second.
            try await Task.sleep(for: .seconds(2))
            let held = f.backend.downloaded
            #expect(held < 24 << 20, "the backend wrote \(held >> 20) MiB while the client took 64 KiB")
            try await Task.sleep(for: .milliseconds(500))
            #expect(f.backend.downloaded - held < 4 << 20, "the upstream kept flowing: \(held) → \(f.backend.downloaded)")
            // Window granted for everything: the whole body arrives, in order of the bytes counted.
            try await h2.send([HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: total)),
                               HTTP2Frame(streamID: 1, payload: .windowUpdate(windowSizeIncrement: total))])
            #expect(try await h2.wait(timeout: .seconds(30)) { _, _ in h2.ended(1) }, "the download did not finish")
            let received = h2.frames.reduce(0) { sum, frame in
                guard frame.streamID == 1, case .data(let data) = frame.payload, case .byteBuffer(let b) = data.data else { return sum }
                return sum + b.readableBytes
            }
            #expect(received == total)
            await h2.close()
            await f.stop()
        }

        @Test("a connection with no open stream is closed after KeepaliveTimeout, with GOAWAY NO_ERROR; one with a stream open is not")
        func idleClose() async throws {
            var settings = ProxySettings(accessLog: false)
            settings.keepaliveTimeout = .seconds(1)
            let f = try await Fixture.start(settings: settings)
            defer { f.pki.remove() }

            let idle = try await f.connect()
            try await idle.send([HTTP2FrameClient.get(1, "a.test", "/")])
            #expect(try await idle.wait { _, _ in idle.ended(1) })
            let answered = ContinuousClock.now
            // A stream that outlives the timeout keeps its connection open.
            let busy = try await f.connect()
            try await busy.send([HTTP2FrameClient.get(1, "a.test", "/slow/2500")])

            // Not before the timeout (the server's idle time started before the client saw the answer, so this
            // checks well inside it), then within a few seconds.
            try await Task.sleep(until: answered + .milliseconds(400))
            #expect(!idle.closed, "closed within 400 ms of its last answer, before the keep-alive timeout")
            #expect(try await idle.wait(timeout: .seconds(6)) { _, closed in closed }, "the idle connection is still open")
            #expect(idle.goAway?.code == HTTP2ErrorCode.noError, "\(idle.frames.suffix(3))")

            #expect(try await busy.wait(timeout: .seconds(6)) { _, _ in busy.ended(1) }, "the slow answer never came")
            #expect(busy.status(of: 1) == "200")
            #expect(busy.frames.allSatisfy { if case .goAway = $0.payload { false } else { true } },
                    "the busy connection had a GOAWAY before its stream ended: \(busy.frames)")
            // Idle now, it goes the same way.
            #expect(try await busy.wait(timeout: .seconds(6)) { _, closed in closed })
            await f.stop()
        }

        @Test("per-stream timers: a stream whose upstream stays silent gets 504 after ReadTimeout while its neighbours are answered")
        func streamReadTimeout() async throws {
            var settings = ProxySettings(accessLog: false)
            settings.readTimeout = .milliseconds(1500)
            let f = try await Fixture.start(settings: settings)
            defer { f.pki.remove() }
            let h2 = try await f.connect()
            let start = ContinuousClock.now
            try await h2.send([HTTP2FrameClient.get(1, "a.test", "/hang"), HTTP2FrameClient.get(3, "a.test", "/"),
                               HTTP2FrameClient.get(5, "a.test", "/hang")])
            #expect(try await h2.wait { _, _ in h2.ended(3) })
            #expect(h2.status(of: 3) == "200")
            #expect(!h2.ended(1) && !h2.ended(5), "a silent upstream's stream ended at once")
            #expect(try await h2.wait(timeout: .seconds(8)) { _, _ in h2.ended(1) && h2.ended(5) })
            let elapsed = ContinuousClock.now - start
            #expect(h2.status(of: 1) == "504" && h2.status(of: 5) == "504")
            #expect(elapsed >= .milliseconds(1400) && elapsed < .seconds(6), "answered after \(elapsed)")
            // The connection goes on serving.
            try await Self.expectServes(h2, stream: 7)
            await h2.close()
            await f.stop()
        }

        @Test("drain: open HTTP/2 connections get GOAWAY, their streams in flight finish, then they close")
        func drain() async throws {
            let f = try await Fixture.start()
            defer { f.pki.remove() }
            let h2 = try await f.connect()
            // The stream outlives the GOAWAY by ~1.4 s, within the 2 s grace period of the test's Pier.
            try await h2.send([HTTP2FrameClient.get(1, "a.test", "/slow/1500")])
            try await Task.sleep(for: .milliseconds(100))

            let draining = Task { await f.pier.server.drain() }
            #expect(try await h2.wait(timeout: .seconds(3)) { _, _ in h2.goAway != nil }, "no GOAWAY on drain")
            #expect(!h2.ended(1), "the stream ended before the GOAWAY: the drain did not wait for it")
            // The request in flight is answered in full, then the connection closes.
            #expect(try await h2.wait(timeout: .seconds(5)) { _, _ in h2.ended(1) })
            #expect(h2.status(of: 1) == "200")
            #expect(try await h2.wait(timeout: .seconds(5)) { _, closed in closed })
            #expect(h2.goAway?.code == HTTP2ErrorCode.noError)
            await draining.value
            await f.stop()
        }
    }
}
