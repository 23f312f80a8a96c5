import Foundation
import NIOConcurrencyHelpers
import Testing

extension EndToEnd {
    /// Certificates rotate with the route table: the `pier` binary, its configuration file and certificate files
    /// changed on disk while curl keeps opening new HTTPS connections.
    @Suite("HTTPS certificate rotation", .serialized)
    struct CertificateRotationTests {
        static func config(backendPort: Int, certificate: String, key: String) -> String {
            """
            [Entrypoints]
            HTTP = "127.0.0.1:0"

            [[Services]]
            Name = "a"
            Endpoints = ["127.0.0.1:\(backendPort)"]
            [Services.Labels]
            "com.docker.lb.hosts" = "a.test"
            "com.docker.lb.ssl_cert" = "\(certificate)"
            "com.docker.lb.ssl_key" = "\(key)"
            """
        }

        /// Waits until the certificate presented for a.test has a serial other than `old` (nil: any certificate).
        static func waitForSerial(_ pki: TestPKI, port: Int, otherThan old: String?, timeout: Duration = .seconds(10)) async throws -> String {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let serial = try pki.presented(port: port, serverName: "a.test").serial, serial != old { return serial }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestFailure("the certificate did not change from \(old ?? "none") within \(timeout)")
        }

        @Test("replace the certificate files, then the label, under load: new handshakes see each new certificate, a broken or expired one keeps the previous, zero failed requests")
        func rotation() async throws {
            let pki = try TestPKI()
            defer { pki.remove() }
            let backend = try await TestBackend.start("app")
            let live = try pki.issue("live/a", names: ["a.test"])
            let configPath = pki.path("pier.toml")
            try Self.config(backendPort: backend.port, certificate: live.certificate, key: live.key).write(toFile: configPath, atomically: true, encoding: .utf8)
            let pier = try PierProcess(["serve", "-c", configPath, "--no-access-log"])
            _ = try await pier.waitForPort()
            let port = pier.httpsPort
            #expect(port != 0)
            let first = try await Self.waitForSerial(pki, port: port, otherThan: nil)

            // Load: a new connection (and handshake) per request, until stopped.
            let counts = NIOLockedValueBox((ok: 0, failed: [String]()))
            let stop = NIOLockedValueBox(false)
            let load = Task.detached {
                while !stop.withLockedValue({ $0 }) {
                    let r = try curl(["-o", "/dev/null", "-w", "%{http_code}", "--cacert", pki.caPath, "--resolve", "a.test:\(port):127.0.0.1", "https://a.test:\(port)/"])
                    counts.withLockedValue { if r.out == "200" { $0.ok += 1 } else { $0.failed.append("\(r.out) \(r.err)") } }
                }
            }

            // Traffic before, between and after every change.
            let pause = Duration.milliseconds(700)
            try await Task.sleep(for: pause)
            // 1. The files are rewritten in place (certificate first, then key, as a copy would).
            let next = try pki.issue("next/a", names: ["a.test"])
            try FileManager.default.removeItem(atPath: live.certificate)
            try FileManager.default.copyItem(atPath: next.certificate, toPath: live.certificate)
            try FileManager.default.removeItem(atPath: live.key)
            try FileManager.default.copyItem(atPath: next.key, toPath: live.key)
            let second = try await Self.waitForSerial(pki, port: port, otherThan: first)
            try await Task.sleep(for: pause)

            // 2. The label names other files.
            let third = try pki.issue("third/a", names: ["a.test"])
            try Self.config(backendPort: backend.port, certificate: third.certificate, key: third.key).write(toFile: configPath, atomically: true, encoding: .utf8)
            let thirdSerial = try await Self.waitForSerial(pki, port: port, otherThan: second)
            try await Task.sleep(for: pause)

            // 3. A broken certificate (another key's) is reported; the previous one stays in use.
            let stranger = try pki.issue("stranger", names: ["a.test"])
            try Data(contentsOf: URL(fileURLWithPath: stranger.certificate)).write(to: URL(fileURLWithPath: third.certificate))
            let deadline = ContinuousClock.now + .seconds(10)
            while !pier.output.contains("the private key does not belong to the certificate"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(pier.output.contains("the private key does not belong to the certificate; the previous certificate stays in use"))
            #expect(try pki.presented(port: port, serverName: "a.test").serial == thirdSerial)
            try await Task.sleep(for: pause)

            // 4. An expired certificate, with its own key: reported as expired; the previous one stays in use.
            let expired = try pki.issue("expired/a", names: ["a.test"], validFrom: "20200101000000Z", until: "20200102000000Z")
            try Data(contentsOf: URL(fileURLWithPath: expired.key)).write(to: URL(fileURLWithPath: third.key))
            try Data(contentsOf: URL(fileURLWithPath: expired.certificate)).write(to: URL(fileURLWithPath: third.certificate))
            let expiredDeadline = ContinuousClock.now + .seconds(10)
            while !pier.output.contains("certificate expired"), ContinuousClock.now < expiredDeadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(pier.output.contains("certificate expired (2020-01-02"), "\(pier.output.suffix(600))")
            #expect(try pki.presented(port: port, serverName: "a.test").serial == thirdSerial)
            try await Task.sleep(for: pause)

            stop.withLockedValue { $0 = true }
            try await load.value
            let (ok, failed) = counts.withLockedValue { ($0.ok, $0.failed) }
            #expect(failed.isEmpty, "\(failed.prefix(3))")
            #expect(ok >= 40, "only \(ok) requests during the rotations")
            // The third certificate is new, not a return to the first.
            #expect(thirdSerial != first)
            // The private key never reaches the log.
            let keyText = try String(contentsOfFile: third.key, encoding: .utf8)
            let keyBody = keyText.split(separator: "\n")[1]
            #expect(!pier.output.contains(String(keyBody)))
            #expect(!pier.output.contains("PRIVATE KEY"))
            #expect(pier.terminate() == 0)
            await backend.stop()
        }

        @Test("pier check reports an unreadable, a mismatched and an expired certificate with key, value and reason, exits 1, and never prints a key")
        func check() async throws {
            let pki = try TestPKI()
            defer { pki.remove() }
            let good = try pki.issue("good", names: ["good.test"])
            let expired = try pki.issue("expired", names: ["expired.test"], validFrom: "20200101000000Z", until: "20200102000000Z")
            let config = """
                [[Services]]
                Name = "good"
                Endpoints = ["127.0.0.1:8080"]
                [Services.Labels]
                "com.docker.lb.hosts" = "good.test"
                "com.docker.lb.ssl_cert" = "\(good.certificate)"
                "com.docker.lb.ssl_key" = "\(good.key)"

                [[Services]]
                Name = "broken"
                Endpoints = ["127.0.0.1:8081"]
                [Services.Labels]
                "com.docker.lb.hosts" = "broken.test"
                "com.docker.lb.ssl_cert" = "\(good.certificate)"
                "com.docker.lb.ssl_key" = "\(pki.path("missing.key"))"

                [[Services]]
                Name = "mismatch"
                Endpoints = ["127.0.0.1:8082"]
                [Services.Labels]
                "com.docker.lb.hosts" = "mismatch.test"
                "com.docker.lb.ssl_cert" = "\(good.certificate)"
                "com.docker.lb.ssl_key" = "\(pki.path("ca.key"))"

                [[Services]]
                Name = "expired"
                Endpoints = ["127.0.0.1:8083"]
                [Services.Labels]
                "com.docker.lb.hosts" = "expired.test"
                "com.docker.lb.ssl_cert" = "\(expired.certificate)"
                "com.docker.lb.ssl_key" = "\(expired.key)"
                """
            let path = pki.path("check.toml")
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try run(pierBinary, ["check", "-c", path])
            #expect(result.status == 1)
            #expect(result.out.contains(#"error: service "broken": com.docker.lb.ssl_cert="\#(good.certificate)+\#(pki.path("missing.key"))": cannot read \#(pki.path("missing.key"))"#), "\(result.out)")
            #expect(result.out.contains(#"error: service "mismatch""#) && result.out.contains("the private key does not belong to the certificate"))
            #expect(result.out.contains(#"error: service "expired""#) && result.out.contains("certificate expired (2020-01-02"), "\(result.out)")
            #expect(result.out.contains("3 errors"))
            #expect(!result.out.contains("PRIVATE KEY"))
            let routes = try run(pierBinary, ["routes", "-c", path])
            #expect(routes.out.contains("terminate with certificate \(good.certificate)+\(good.key) (good.test)"), "\(routes.out)")
            #expect(!routes.out.contains("PRIVATE KEY"))
        }
    }
}
