import Foundation
import NIOCore
import NIOEmbedded
import NIOSSL
import LabelConfig
import RouteModel
import Testing

extension EndToEnd {
    /// The HTTPS entrypoint end to end: real certificates made at run time, openssl, curl and h2load as clients,
    /// NIO backends behind.
    @Suite("HTTPS entrypoint", .serialized)
    struct TLSTests {
        /// Hosts a.test, b.test, *.wild.test with their own certificates; plain.test with none.
        static func services(_ pki: TestPKI, backend: TestBackend) throws -> [ServiceDescription] {
            let a = try pki.issue("a", names: ["a.test"])
            let b = try pki.issue("b", names: ["b.test"])
            let w = try pki.issue("wild", names: ["*.wild.test"])
            return [
                service("a", ["hosts": "a.test", "ssl_cert": a.certificate, "ssl_key": a.key], [backend]),
                service("b", ["hosts": "b.test", "ssl_cert": b.certificate, "ssl_key": b.key], [backend]),
                service("wild", ["hosts": "*.wild.test", "ssl_cert": w.certificate, "ssl_key": w.key], [backend]),
                service("plain", ["hosts": "plain.test"], [backend]),
            ]
        }

        /// curl over HTTPS to `host` with SNI and Host `host`, resolving it to Pier's HTTPS port.
        static func curlTLS(_ pier: InProcessPier, _ pki: TestPKI, host: String, _ path: String, _ extra: [String] = []) throws -> (status: Int32, out: String, err: String) {
            let port = pier.httpsPort!
            return try curl(["--cacert", pki.caPath, "--resolve", "\(host):\(port):127.0.0.1"] + extra + ["https://\(host):\(port)\(path)"])
        }

        @Test("openssl s_client matrix: each name gets its certificate; unknown or no SNI get the default, or unrecognized_name without one")
        func sniMatrix() async throws {
            let pki = try TestPKI()
            defer { pki.remove() }
            let backend = try await TestBackend.start("app")
            let fallback = try pki.issue("default", names: ["default.test"])
            let services = try Self.services(pki, backend: backend)
            let strict = try await InProcessPier.start(services, https: true)
            let lenient = try await InProcessPier.start(services, https: true,
                                                        defaultCertificate: CertificateNames(certificate: fallback.certificate, key: fallback.key))
            let cases: [(String?, String?, String?)] = [
                // (SNI, CN without a default certificate, CN with one); nil: the handshake fails.
                ("a.test", "a.test", "a.test"), ("b.test", "b.test", "b.test"), ("x.wild.test", "*.wild.test", "*.wild.test"),
                ("A.TEST", "a.test", "a.test"), ("unknown.test", nil, "default.test"), ("plain.test", nil, "default.test"), (nil, nil, "default.test"),
            ]
            for (name, strictCN, lenientCN) in cases {
                let s = try pki.presented(port: strict.httpsPort!, serverName: name)
                #expect(s.cn == strictCN, "strict, SNI \(name ?? "none"): \(s.output.suffix(300))")
                if strictCN == nil { #expect(s.output.contains("unrecognized name"), "\(s.output.suffix(300))") }
                let l = try pki.presented(port: lenient.httpsPort!, serverName: name)
                #expect(l.cn == lenientCN, "with default, SNI \(name ?? "none"): \(l.output.suffix(300))")
            }
            await strict.stop()
            await lenient.stop()
            await backend.stop()
        }

        @Test("curl over HTTPS with --http2 and --http1.1 to a plain HTTP backend: same answers, forwarded proto and port")
        func http2AndHTTP1() async throws {
            let pki = try TestPKI()
            defer { pki.remove() }
            let backend = try await TestBackend.start("app")
            let pier = try await InProcessPier.start(try Self.services(pki, backend: backend), https: true)
            var answers: [String: [String: String]] = [:]
            for version in ["--http2", "--http1.1"] {
                let r = try Self.curlTLS(pier, pki, host: "a.test", "/echo?x=1", [version, "-w", "\n%{http_version}"])
                #expect(r.status == 0, "\(r.err)")
                let lines = r.out.split(separator: "\n")
                #expect(lines.last == (version == "--http2" ? "2" : "1.1"))
                var fields = echoFields(r.out)
                #expect(fields["h:x-forwarded-proto"] == "https")
                #expect(fields["h:x-forwarded-port"] == "\(pier.httpsPort!)")
                #expect(fields["uri"] == "/echo?x=1")
                #expect(fields["h:host"] == "a.test:\(pier.httpsPort!)")
                for key in fields.keys where key.hasPrefix("h:x-request-id") || key.hasPrefix("h:user-agent") || key.hasPrefix("h:x-forwarded-for") || key.hasPrefix("h:x-real-ip") { fields[key] = nil }
                answers[version] = fields
            }
            #expect(answers["--http2"] == answers["--http1.1"])
            // Bodies both ways, with HTTP/2 flow control: 4 MiB up, 8 MiB down.
            let file = pki.path("upload.bin")
            #expect(FileManager.default.createFile(atPath: file, contents: Data(repeating: 0x61, count: 4 << 20)))
            for version in ["--http2", "--http1.1"] {
                let up = try Self.curlTLS(pier, pki, host: "a.test", "/upload", [version, "--data-binary", "@" + file])
                #expect(up.out == "received=\(4 << 20)\n", "\(version): \(up.err)")
                let down = try Self.curlTLS(pier, pki, host: "a.test", "/download/\(8 << 20)", [version, "-o", "/dev/null", "-w", "%{size_download} %{http_code}"])
                #expect(down.out == "\(8 << 20) 200", "\(version): \(down.err)")
            }
            // Plain HTTP names its own entrypoint.
            let plain = try curl(["-H", "Host: a.test", "http://127.0.0.1:\(pier.port)/echo"])
            #expect(echoFields(plain.out)["h:x-forwarded-proto"] == "http")
            #expect(echoFields(plain.out)["h:x-forwarded-port"] == "\(pier.port)")
            await pier.stop()
            await backend.stop()
        }

        @Test("HTTP/2 multiplexing: 100 concurrent streams on one connection (curl --parallel and h2load); the limits advertised are the ones set (128 streams, the header list limit), and 200 streams asked at once all succeed")
        func multiplexing() async throws {
            let pki = try TestPKI()
            defer { pki.remove() }
            let backend = try await TestBackend.start("app")
            let pier = try await InProcessPier.start(try Self.services(pki, backend: backend), https: true)
            let port = pier.httpsPort!
            // 100 requests that each take 300 ms at the backend: on one connection they can only finish in
            // about that time if they run as concurrent streams.
            let urls = (0..<100).map { "https://a.test:\(port)/slow/300?i=\($0)" }
            let start = ContinuousClock.now
            let r = try curl(["--http2", "--parallel", "--parallel-max", "100", "--cacert", pki.caPath, "--resolve", "a.test:\(port):127.0.0.1",
                              "-w", "%{num_connects} %{http_version} %{response_code}\n", "-o", "/dev/null"] + urls.flatMap { [$0, "-o", "/dev/null"] })
            let elapsed = ContinuousClock.now - start
            let lines = r.out.split(separator: "\n")
            #expect(lines.count == 100, "\(r.err)")
            #expect(lines.allSatisfy { $0.hasSuffix(" 2 200") }, "\(lines.prefix(3))")
            #expect(lines.map { Int($0.split(separator: " ")[0]) ?? 0 }.reduce(0, +) == 1, "connections opened: \(lines.prefix(5))")
            #expect(elapsed < .seconds(15), "100 × 300 ms took \(elapsed): not concurrent")
            let h2 = try run("/usr/bin/h2load", ["-n", "2000", "-c", "1", "-m", "100", "--connect-to=127.0.0.1:\(port)", "https://a.test:\(port)/"])
            #expect(h2.out.contains("2000 succeeded, 0 failed, 0 errored"), "\(h2.out.suffix(600))")
            #expect(h2.out.contains("Application protocol: h2"))
            // The server's SETTINGS, read off the wire: 128 streams as documented (docs/request-lifecycle.md, and
            // nginx's default), the header list limited to LargeClientHeaderBuffers' total, a 64 KiB window.
            let settings = try await HTTP2SettingsProbe.settings(port: port, serverName: "a.test", caPath: pki.caPath)
            #expect(settings[3] == 128, "\(settings)")
            #expect(settings[6] == UInt32(ProxySettings().maxHeaderSize), "\(settings)")
            #expect(settings[4] == 65535, "\(settings)")
            // h2load asks for 200 at once; the advertised limit makes it queue the rest, and none fails.
            let wide = try run("/usr/bin/h2load", ["-n", "1000", "-c", "1", "-m", "200", "--connect-to=127.0.0.1:\(port)", "https://a.test:\(port)/"])
            #expect(wide.out.contains("1000 succeeded, 0 failed, 0 errored"), "\(wide.out.suffix(600))")
            await pier.stop()
            await backend.stop()
        }

        @Test("a request for a host served with another certificate is misdirected: 421 (default-certificate hosts share one)")
        func misdirected() async throws {
            let pki = try TestPKI()
            defer { pki.remove() }
            let backend = try await TestBackend.start("app")
            let fallback = try pki.issue("default", names: ["default.test"])
            var services = try Self.services(pki, backend: backend)
            services.append(service("other-plain", ["hosts": "other-plain.test"], [backend]))
            let pier = try await InProcessPier.start(services, https: true, defaultCertificate: CertificateNames(certificate: fallback.certificate, key: fallback.key))
            for version in ["--http2", "--http1.1"] {
                let wrong = try Self.curlTLS(pier, pki, host: "b.test", "/", [version, "-H", "Host: a.test", "-o", "/dev/null", "-w", "%{http_code}"])
                #expect(wrong.out == "421", "\(version)")
                let right = try Self.curlTLS(pier, pki, host: "b.test", "/", [version, "-o", "/dev/null", "-w", "%{http_code}"])
                #expect(right.out == "200")
            }
            // plain.test and other-plain.test both use the default certificate: one connection may serve both.
            let shared = try Self.curlTLS(pier, pki, host: "plain.test", "/", ["-k", "-H", "Host: other-plain.test", "-o", "/dev/null", "-w", "%{http_code}"])
            #expect(shared.out == "200")
            await pier.stop()
            await backend.stop()
        }

        @Test("redirect to HTTPS: ssl_only (301 for GET, 308 for POST, path and query kept) and a redirects pair")
        func redirectsToHTTPS() async throws {
            let pki = try TestPKI()
            defer { pki.remove() }
            let backend = try await TestBackend.start("app")
            let shop = try pki.issue("shop", names: ["shop.test"])
            let pair = try pki.issue("pair", names: ["pair.test"])
            let pier = try await InProcessPier.start([
                service("shop", ["hosts": "shop.test", "ssl_only": "true", "ssl_cert": shop.certificate, "ssl_key": shop.key], [backend]),
                service("pair", ["hosts": "pair.test", "redirects": "http://pair.test,https://pair.test", "ssl_cert": pair.certificate, "ssl_key": pair.key], [backend]),
            ], https: true)
            let port = pier.httpsPort!
            let get = try curl(["-H", "Host: shop.test", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "http://127.0.0.1:\(pier.port)/cart?id=7"])
            #expect(get.out == "301 https://shop.test:\(port)/cart?id=7")
            let post = try curl(["-X", "POST", "-d", "x", "-H", "Host: shop.test", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(pier.port)/cart"])
            #expect(post.out == "308")
            // Following the redirect lands on the service over HTTPS.
            let followed = try curl(["-L", "--cacert", pki.caPath, "--resolve", "shop.test:\(pier.port):127.0.0.1", "--resolve", "shop.test:\(port):127.0.0.1",
                                     "http://shop.test:\(pier.port)/cart?id=7"])
            #expect(echoFields(followed.out)["h:x-forwarded-proto"] == "https", "\(followed.err)")
            #expect(echoFields(followed.out)["uri"] == "/cart?id=7")
            let redirected = try curl(["-H", "Host: pair.test", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "http://127.0.0.1:\(pier.port)/a?b=c"])
            #expect(redirected.out == "302 https://pair.test/a?b=c")
            let served = try Self.curlTLS(pier, pki, host: "pair.test", "/a")
            #expect(echoFields(served.out)["backend"] == "app")
            await pier.stop()
            await backend.stop()
        }

        @Test("TLS policy: 1.2 and 1.3 by default, 1.1 refused; SSLProtocols narrows it")
        func tlsPolicy() async throws {
            let pki = try TestPKI()
            defer { pki.remove() }
            let backend = try await TestBackend.start("app")
            let services = try Self.services(pki, backend: backend)
            let pier = try await InProcessPier.start(services, https: true)
            #expect(try pki.presented(port: pier.httpsPort!, serverName: "a.test", extra: ["-tls1_2"]).cn == "a.test")
            #expect(try pki.presented(port: pier.httpsPort!, serverName: "a.test", extra: ["-tls1_3"]).cn == "a.test")
            #expect(try pki.presented(port: pier.httpsPort!, serverName: "a.test", extra: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]).cn == nil)
            var settings = ProxySettings(accessLog: false)
            settings.tlsPolicy.minimumVersion = .v1_3
            let strict = try await InProcessPier.start(services, settings: settings, https: true)
            #expect(try pki.presented(port: strict.httpsPort!, serverName: "a.test", extra: ["-tls1_2"]).cn == nil)
            #expect(try pki.presented(port: strict.httpsPort!, serverName: "a.test", extra: ["-tls1_3"]).cn == "a.test")
            await pier.stop()
            await strict.stop()
            await backend.stop()
        }

        @Test("passthrough: the client sees the backend's own certificate; 64 MiB echo byte-identical; PROXY v2 names the client")
        func passthrough() async throws {
            let pki = try TestPKI()
            defer { pki.remove() }
            let own = try pki.issue("pt", names: ["pt.test"])
            let echo = try await TLSEchoBackend.start(certificate: own.certificate, key: own.key, expectProxyHeader: true)
            let pier = try await InProcessPier.start([
                ServiceDescription(name: "vault", labels: ["com.docker.lb.hosts": "pt.test", "com.docker.lb.ssl_passthrough": "true",
                                                           "com.docker.lb.pier.proxy_protocol": "v2"],
                                   endpoints: [.init(host: "127.0.0.1", port: echo.port)]),
            ], https: true)
            let presented = try pki.presented(port: pier.httpsPort!, serverName: "pt.test")
            #expect(presented.cn == "pt.test", "\(presented.output.suffix(300))")
            // Pseudo-random bytes, written a word at a time (a debug build is slow per byte).
            var state: UInt64 = 0x9E3779B97F4A7C15
            let payload = [UInt8](unsafeUninitializedCapacity: 64 << 20) { buffer, count in
                let words = UnsafeMutableRawBufferPointer(buffer).bindMemory(to: UInt64.self)
                for i in words.indices {
                    state ^= state << 13; state ^= state >> 7; state ^= state << 17
                    words[i] = state
                }
                count = 64 << 20
            }
            let matched = try await TLSBulkClient.echo(port: pier.httpsPort!, serverName: "pt.test", caPath: pki.caPath, payload: payload)
            #expect(matched == payload.count)
            let header = try #require(echo.proxyHeaders.last)
            #expect(Array(header.prefix(12)) == [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A])
            #expect(Array(header[12..<16]) == [0x21, 0x11, 0x00, 12])
            #expect(Array(header[16..<20]) == [127, 0, 0, 1])
            let pierPort = Int(header[26]) << 8 | Int(header[27])
            #expect(pierPort == pier.httpsPort!)
            await pier.stop()
            await echo.stop()
        }

        @Test("passthrough fail-over: an endpoint that refuses is passed over for another; with none reachable the client connection closes")
        func passthroughFailOver() async throws {
            let pki = try TestPKI()
            defer { pki.remove() }
            let own = try pki.issue("pt", names: ["pt.test"])
            let echo = try await TLSEchoBackend.start(certificate: own.certificate, key: own.key, expectProxyHeader: false)
            let dead = try await refusedPort(), alsoDead = try await refusedPort()
            // Passive health off: round robin keeps offering the dead endpoint first to every other connection.
            let labels = ["com.docker.lb.hosts": "pt.test", "com.docker.lb.ssl_passthrough": "true", "com.docker.lb.max_fails": "0"]
            let pier = try await InProcessPier.start([
                ServiceDescription(name: "vault", labels: labels, endpoints: [.init(host: "127.0.0.1", port: dead), .init(host: "127.0.0.1", port: echo.port)]),
            ], https: true)
            // Round robin alternates: three of the six connections are offered the dead endpoint first, and
            // reach the live one only by failing over.
            for i in 0..<6 {
                let presented = try pki.presented(port: pier.httpsPort!, serverName: "pt.test")
                #expect(presented.cn == "pt.test", "connection \(i): \(presented.output.suffix(300))")
            }
            let unreachable = try await InProcessPier.start([
                ServiceDescription(name: "vault", labels: labels, endpoints: [.init(host: "127.0.0.1", port: dead), .init(host: "127.0.0.1", port: alsoDead)]),
            ], https: true)
            let refused = try pki.presented(port: unreachable.httpsPort!, serverName: "pt.test")
            #expect(refused.cn == nil)
            #expect(!refused.output.contains("BEGIN CERTIFICATE"), "\(refused.output.suffix(300))")
            await pier.stop()
            await unreachable.stop()
            await echo.stop()
        }
    }
}

extension EndToEnd.TLSTests {
    @Test("h2c upstream (pier.upstream_protocol=h2c): HTTP/2 and HTTP/1.1 clients reach an HTTP/2 cleartext backend, trailers and TE kept, streams share a connection")
    func h2cUpstream() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let backend = try await H2CBackend.start()
        let a = try pki.issue("grpc", names: ["grpc.test"])
        let pier = try await InProcessPier.start([
            ServiceDescription(name: "grpc", labels: ["com.docker.lb.hosts": "grpc.test", "com.docker.lb.ssl_cert": a.certificate,
                                                      "com.docker.lb.ssl_key": a.key, "com.docker.lb.pier.upstream_protocol": "h2c"],
                               endpoints: [.init(host: "127.0.0.1", port: backend.port)]),
        ], https: true)
        let r = try Self.curlTLS(pier, pki, host: "grpc.test", "/pkg.Service/Method", ["--http2", "-v", "-H", "te: trailers", "-d", "hello"])
        let fields = echoFields(r.out)
        #expect(fields["version"] == "2", "\(r.out) \(r.err.suffix(800))")
        #expect(fields["te"] == "trailers")
        #expect(fields["received"] == "5")
        #expect(fields["uri"] == "/pkg.Service/Method")
        #expect(fields["forwarded-proto"] == "https")
        #expect(r.err.contains("grpc-status: 0"), "trailers did not reach the client: \(r.err.suffix(800))")
        // HTTP/1.1 clients over plain HTTP reach it too (trailers in the chunked body).
        let plain = try curl(["-H", "Host: grpc.test", "--raw", "http://127.0.0.1:\(pier.port)/x"])
        #expect(plain.out.contains("backend=h2c"))
        #expect(plain.out.contains("grpc-status: 0"), "\(plain.out)")
        for i in 0..<20 {
            let each = try Self.curlTLS(pier, pki, host: "grpc.test", "/n\(i)", ["--http2"])
            #expect(echoFields(each.out)["uri"] == "/n\(i)")
        }
        // One HTTP/2 connection per event loop (the test Pier has two), every request a stream of its own.
        #expect(backend.connections <= 2)
        #expect(backend.streams == 22)
        await pier.stop()
        await backend.stop()
    }
}

extension EndToEnd.TLSTests {
    @Test("passthrough half-close: the client's shutdown reaches the backend, whose answer still comes back")
    func passthroughHalfClose() async throws {
        let backend = try await HalfCloseBackend.start()
        let pier = try await InProcessPier.start([
            ServiceDescription(name: "raw", labels: ["com.docker.lb.hosts": "raw.test", "com.docker.lb.ssl_passthrough": "true"],
                               endpoints: [.init(host: "127.0.0.1", port: backend.port)]),
        ], https: true)
        // A real ClientHello names the host; what follows it is opaque to Pier.
        let hello = try clientHelloBytes(serverName: "raw.test")
        let fd = try loopbackSocket(port: pier.httpsPort!)
        defer { close(fd) }
        // The ClientHello first; once the backend's greeting comes back the relay stands (as a TLS client
        // waits for the server's answer before it sends more).
        _ = hello.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var greeting = [UInt8](repeating: 0, count: 6)
        #expect(recv(fd, &greeting, 6, Int32(MSG_WAITALL)) == 6)
        #expect(String(decoding: greeting, as: UTF8.self) == "ready\n")
        let payload = [UInt8](repeating: 0x42, count: 100_000)
        var sent = 0
        while sent < payload.count {
            let n = payload[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { break }
            sent += n
        }
        #expect(sent == payload.count)
        shutdown(fd, Int32(SHUT_WR))
        let reply = readUntilClosed(fd)
        #expect(String(decoding: reply, as: UTF8.self) == "received=\(hello.count + payload.count)")
        await pier.stop()
        await backend.stop()
    }
}

/// A real ClientHello from swift-nio-ssl's client, as raw bytes.
func clientHelloBytes(serverName: String) throws -> [UInt8] {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.certificateVerification = .none
    let client = EmbeddedChannel()
    try client.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: NIOSSLContext(configuration: configuration), serverHostname: serverName))
    try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
    var bytes: [UInt8] = []
    while let buffer = try client.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
    _ = try? client.finish()
    return bytes
}
