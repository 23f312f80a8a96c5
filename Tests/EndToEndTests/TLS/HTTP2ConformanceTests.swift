import NIOCore
import RouteModel
import Testing

extension EndToEnd {
    /// Pier's HTTP/2 against a client that breaks the protocol on purpose (h2spec's cases, the numbers are its
    /// sections) or floods it, and against heavy but legitimate traffic that must not be taken for abuse: bytes
    /// on the wire through `RawHTTP2Client`. KeepaliveTimeout is 30 s, so a close within the test's 2 s can
    /// only come from the behaviour under test.
    @Suite("HTTP/2 conformance and abuse: stream states, flow control, concurrency, floods", .serialized)
    struct HTTP2ConformanceTests {
        typealias Raw = RawHTTP2Client

        // Error codes (RFC 9113 §7).
        static let protocolError: UInt32 = 0x1, flowControlError: UInt32 = 0x3, streamClosed: UInt32 = 0x5
        static let refusedStream: UInt32 = 0x7, cancel: UInt32 = 0x8, enhanceYourCalm: UInt32 = 0xB
        // SETTINGS identifiers (§6.5.2).
        static let maxConcurrentStreams: UInt16 = 0x3, initialWindowSize: UInt16 = 0x4
        static let maxWindow: UInt32 = 0x7FFF_FFFF

        /// Runs `body` with Pier (HTTPS, KeepaliveTimeout 30 s) and a handshaken raw connection to it; closes
        /// and stops both whatever `body` does.
        static func withConnection(replenish: Bool = false,
                                   _ body: (HTTP2LimitsTests.Fixture, RawHTTP2Client) async throws -> Void) async throws {
            var settings = ProxySettings(accessLog: false)
            settings.keepaliveTimeout = .seconds(30)
            let f = try await HTTP2LimitsTests.Fixture.start(settings: settings)
            var client: RawHTTP2Client?
            do {
                let h2 = try await f.connectRaw(replenish: replenish)
                client = h2
                try await h2.handshake()
                try await body(f, h2)
            } catch {
                await client?.close()
                await f.stop()
                f.pki.remove()
                throw error
            }
            await client?.close()
            await f.stop()
            f.pki.remove()
        }

        /// Expects a GOAWAY (with `code` if given, else any error code; with `last` if given) and the connection
        /// closed within 2 s of the call, made right after the offending frames were sent.
        static func expectGoAwayAndClose(_ h2: RawHTTP2Client, code: UInt32? = nil, last: UInt32? = nil,
                                         sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let closed = try await h2.wait(timeout: .seconds(2)) { h2.closed }
            let goAway = h2.goAway
            #expect(goAway != nil, "no GOAWAY: \(h2.summary)", sourceLocation: sourceLocation)
            if let goAway {
                if let code { #expect(goAway.errorCode == code, "\(h2.summary)", sourceLocation: sourceLocation) }
                #expect(goAway.errorCode != 0, "\(h2.summary)", sourceLocation: sourceLocation)
                if let last { #expect(goAway.lastStreamID == last, "\(h2.summary)", sourceLocation: sourceLocation) }
            }
            #expect(closed, "not closed within 2 s: \(h2.summary)", sourceLocation: sourceLocation)
        }

        /// Asks for `/` on `stream` and expects 200 with no GOAWAY and the connection open.
        static func expectServes(_ h2: RawHTTP2Client, stream: UInt32, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try await h2.send([h2.request(stream, "/")])
            #expect(try await h2.wait(timeout: .seconds(5)) { h2.ended(stream) }, "stream \(stream) not answered: \(h2.summary)",
                    sourceLocation: sourceLocation)
            #expect(h2.status(of: stream) == "200", "\(h2.summary)", sourceLocation: sourceLocation)
            #expect(h2.goAway == nil && !h2.closed, "\(h2.summary)", sourceLocation: sourceLocation)
        }

        // MARK: Stream states (h2spec 5.1)

        @Test("5.1/6: HEADERS on a half-closed (remote) stream ends the connection with GOAWAY STREAM_CLOSED")
        func headersOnHalfClosedStream() async throws {
            try await Self.withConnection { _, h2 in
                try await h2.send([h2.request(1, "/slow/1000"), h2.request(1, "/slow/1000")])
                try await Self.expectGoAwayAndClose(h2, code: Self.streamClosed, last: 1)
            }
        }

        @Test("5.1/9: HEADERS on a stream the client reset ends the connection: GOAWAY, last stream 1")
        func headersAfterReset() async throws {
            try await Self.withConnection { _, h2 in
                try await h2.send([h2.request(1, "/upload", method: "POST", endStream: false), Raw.rst(stream: 1, code: Self.cancel),
                                   h2.request(1, "/")])
                try await Self.expectGoAwayAndClose(h2, last: 1)
            }
        }

        @Test("5.1/12: HEADERS on a closed stream ends the connection: GOAWAY, last stream 1")
        func headersOnClosedStream() async throws {
            try await Self.withConnection { _, h2 in
                try await h2.send([h2.request(1, "/")])
                #expect(try await h2.wait(timeout: .seconds(5)) { h2.ended(1) }, "\(h2.summary)")
                try await h2.send([h2.request(1, "/")])
                try await Self.expectGoAwayAndClose(h2, last: 1)
            }
        }

        @Test("5.1/8: DATA on a stream the client reset is a STREAM_CLOSED error (RST_STREAM, or GOAWAY and close)")
        func dataAfterReset() async throws {
            try await Self.withConnection { _, h2 in
                try await h2.send([h2.request(1, "/upload", method: "POST", endStream: false), Raw.rst(stream: 1, code: Self.cancel),
                                   Raw.data(stream: 1, bytes: 4, endStream: true)])
                // RFC 9113 §5.1: a stream error; h2spec also accepts the connection error.
                #expect(try await h2.wait(timeout: .seconds(2)) { h2.rst(of: 1) != nil || h2.goAway != nil }, "\(h2.summary)")
                if h2.goAway != nil {
                    try await Self.expectGoAwayAndClose(h2, code: Self.streamClosed, last: 1)
                } else {
                    #expect(h2.rst(of: 1) == Self.streamClosed, "\(h2.summary)")
                }
            }
        }

        @Test("5.1/11: DATA on a closed stream ends the connection with GOAWAY STREAM_CLOSED")
        func dataOnClosedStream() async throws {
            try await Self.withConnection { _, h2 in
                try await h2.send([h2.request(1, "/")])
                #expect(try await h2.wait(timeout: .seconds(5)) { h2.ended(1) }, "\(h2.summary)")
                try await h2.send([Raw.data(stream: 1, bytes: 4, endStream: true)])
                try await Self.expectGoAwayAndClose(h2, code: Self.streamClosed, last: 1)
            }
        }

        // MARK: Flow control (h2spec 6.9)

        @Test("6.9.1/2: a connection window past 2^31-1 ends the connection: GOAWAY FLOW_CONTROL_ERROR, last stream 1")
        func connectionWindowOverflow() async throws {
            try await Self.withConnection { _, h2 in
                try await h2.send([h2.request(1, "/slow/1000"), Raw.windowUpdate(stream: 0, increment: Self.maxWindow),
                                   Raw.windowUpdate(stream: 0, increment: Self.maxWindow)])
                try await Self.expectGoAwayAndClose(h2, code: Self.flowControlError, last: 1)
            }
        }

        @Test("6.9/1: WINDOW_UPDATE with increment 0 on the connection ends it: GOAWAY PROTOCOL_ERROR")
        func zeroWindowIncrement() async throws {
            try await Self.withConnection { _, h2 in
                try await h2.send([Raw.windowUpdate(stream: 0, increment: 0)])
                try await Self.expectGoAwayAndClose(h2, code: Self.protocolError)
            }
        }

        @Test("6.9.1/3: a stream window past 2^31-1 resets that stream (FLOW_CONTROL_ERROR); the connection serves on")
        func streamWindowOverflow() async throws {
            try await Self.withConnection { _, h2 in
                try await h2.send([h2.request(1, "/upload", method: "POST", endStream: false),
                                   Raw.windowUpdate(stream: 1, increment: Self.maxWindow), Raw.windowUpdate(stream: 1, increment: Self.maxWindow)])
                #expect(try await h2.wait(timeout: .seconds(5)) { h2.rst(of: 1) != nil }, "no RST_STREAM: \(h2.summary)")
                #expect(h2.rst(of: 1) == Self.flowControlError, "\(h2.summary)")
                try await Self.expectServes(h2, stream: 3)
            }
        }

        // MARK: Concurrency (h2spec 5.1.2)

        @Test("5.1.2: Pier advertises 128 concurrent streams and refuses the 129th with REFUSED_STREAM; the 128 and later streams are answered")
        func streamsPastTheLimitAreRefused() async throws {
            try await Self.withConnection { _, h2 in
                #expect(h2.serverSettings?[Self.maxConcurrentStreams] == 128, "\(String(describing: h2.serverSettings))")
                // No window for responses: the 128 streams stay open until the test opens it.
                try await h2.send([Raw.settings([(Self.initialWindowSize, 0)])])
                #expect(try await h2.wait(timeout: .seconds(5)) { h2.settingsAcks >= 2 }, "SETTINGS not acknowledged: \(h2.summary)")
                let streams = (0..<129).map { UInt32(2 * $0 + 1) }
                try await h2.send(try streams.map { try h2.request($0, "/") })
                #expect(try await h2.wait(timeout: .seconds(5)) { h2.rst(of: 257) != nil || h2.closed }, "\(h2.summary)")
                #expect(h2.rst(of: 257) == Self.refusedStream, "\(h2.summary)")
                #expect(h2.goAway == nil && !h2.closed, "\(h2.summary)")
                let admitted = streams.dropLast()
                #expect(!admitted.contains { h2.ended($0) }, "a response ended with no window: \(h2.summary)")

                try await h2.send([Raw.settings([(Self.initialWindowSize, 65535)]), Raw.windowUpdate(stream: 0, increment: 1 << 20)])
                #expect(try await h2.wait(timeout: .seconds(10)) { admitted.allSatisfy { h2.ended($0) } },
                        "unanswered: \(admitted.filter { !h2.ended($0) }.prefix(10)); \(h2.summary)")
                let notOK = admitted.filter { h2.status(of: $0) != "200" }
                #expect(notOK.isEmpty, "not 200: \(notOK.prefix(10)); \(h2.summary)")
                try await Self.expectServes(h2, stream: 259)
            }
        }

        // MARK: Frames that carry nothing, in bulk

        @Test("a flood of WINDOW_UPDATE(0, 1) (200,000) ends the connection with GOAWAY ENHANCE_YOUR_CALM")
        func windowUpdateFlood() async throws {
            try await Self.withConnection { _, h2 in
                await h2.flood(Raw.windowUpdate(stream: 0, increment: 1), count: 400_000, bufferSize: 1 << 20)
                try await Self.expectGoAwayAndClose(h2, code: Self.enhanceYourCalm)
            }
        }

        @Test("a flood of frames of an unknown type (100,000) ends the connection with GOAWAY ENHANCE_YOUR_CALM")
        func unknownFrameFlood() async throws {
            try await Self.withConnection { _, h2 in
                await h2.flood(Raw.unknown(type: 0xFF), count: 100_000)
                try await Self.expectGoAwayAndClose(h2, code: Self.enhanceYourCalm)
            }
        }

        @Test("rapid reset: the GOAWAY ENHANCE_YOUR_CALM names the last stream opened, not 0")
        func rapidResetGoAwayNamesTheLastStream() async throws {
            try await Self.withConnection { _, h2 in
                // 210 streams opened and reset at once; NIO's limit is 200 resets per 30 s (HTTP2LimitsTests).
                let streams = (0..<210).map { UInt32(2 * $0 + 1) }
                let frames = try streams.flatMap { [try h2.request($0, "/slow/200"), Raw.rst(stream: $0, code: Self.cancel)] }
                try? await h2.send(frames)
                try await Self.expectGoAwayAndClose(h2, code: Self.enhanceYourCalm)
                // The limit trips around the 200th reset (stream 399-401); later streams may not be opened at all.
                let last = h2.goAway?.lastStreamID ?? 0
                #expect(last % 2 == 1 && (2 * 190 + 1...streams.last!).contains(last), "last stream \(last): \(h2.summary)")
            }
        }

        // MARK: Heavy traffic that is not abuse

        @Test("a 16 MiB download whose client returns the window of every DATA frame completes, with no GOAWAY")
        func replenishingDownload() async throws {
            try await Self.withConnection(replenish: true) { _, h2 in
                let total = 16 << 20
                try await h2.send([h2.request(1, "/download/\(total)")])
                #expect(try await h2.wait(timeout: .seconds(30)) { h2.ended(1) || h2.closed }, "\(h2.summary)")
                #expect(h2.ended(1) && h2.bodyBytes(of: 1) == total, "\(h2.bodyBytes(of: 1)) bytes: \(h2.summary)")
                #expect(h2.goAway == nil && !h2.closed, "\(h2.summary)")
            }
        }

        @Test("a PING every 100 ms for 3 s, with a request every second, is answered and not punished")
        func keepalivePings() async throws {
            try await Self.withConnection { _, h2 in
                var stream: UInt32 = 1
                for tick in 0..<30 {
                    try await h2.send([Raw.ping(data: UInt64(tick))])
                    if tick % 10 == 0 {
                        try await h2.send([h2.request(stream, "/")])
                        stream += 2
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(try await h2.wait(timeout: .seconds(5)) { h2.pingAcks == 30 && h2.ended(5) }, "\(h2.pingAcks) PING ACKs: \(h2.summary)")
                #expect([1, 3, 5].allSatisfy { h2.status(of: $0) == "200" }, "\(h2.summary)")
                #expect(h2.goAway == nil && !h2.closed, "\(h2.summary)")
            }
        }

        @Test("a flooding connection does not slow the other connections of its event loop")
        func floodLeavesNeighboursServed() async throws {
            // One event loop: the flooders and the neighbour share it.
            let f = try await HTTP2LimitsTests.Fixture.start(threads: 1)
            defer { f.pki.remove() }
            let flooding = Task {
                var floods = 0
                let until = ContinuousClock.now + .seconds(3)
                while ContinuousClock.now < until {
                    guard let h2 = try? await f.connectRaw() else { continue }
                    if (try? await h2.handshake()) != nil {
                        await h2.flood(Raw.windowUpdate(stream: 0, increment: 1), count: 400_000, bufferSize: 1 << 20)
                        floods += 1
                    }
                    await h2.close()
                }
                return floods
            }
            var latencies: [Duration] = []
            while latencies.count < 100 {
                let start = ContinuousClock.now
                let reply = try await request(f.pier, host: "a.test", "/")
                latencies.append(ContinuousClock.now - start)
                #expect(reply.status == 200)
                try await Task.sleep(for: .milliseconds(20))
            }
            let floods = await flooding.value
            latencies.sort()
            let p95 = latencies[94]
            // Each flood is cut off after its budget (~2,000 frames), so several run in 3 s; without the frame guard
            // NIO took every frame of the first one (here ~13 s for 400,000), and the issue measured the neighbours'
            // p95 at 0.6 s on another machine.
            #expect(floods >= 3, "floods were not cut off: \(floods) in 3 s")
            #expect(p95 < .milliseconds(100), "p95 \(p95), max \(latencies.last!), during \(floods) floods")
            await f.stop()
        }
    }
}

extension EndToEnd.HTTP2LimitsTests.Fixture {
    /// A new raw HTTP/2 connection to Pier, SNI a.test (not yet handshaken).
    func connectRaw(replenish: Bool = false) async throws -> RawHTTP2Client {
        try await RawHTTP2Client.connect(port: pier.httpsPort!, serverName: "a.test", caPath: pki.caPath, replenish: replenish)
    }
}
