import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

extension EndToEnd {
    /// The `pier` executable as users run it: `serve` on a watched file, `check`, `demo`, signals.
    @Suite(.serialized)
    struct ProcessTests {
        func config(port: Int = 0, services: String, extra: String = "") -> String {
            """
            [Entrypoints]
            HTTP = "127.0.0.1:\(port)"

            [Config]
            AccessLog = false
            ClientMaxBodySize = "0"
            \(extra)

            \(services)
            """
        }

        func serviceBlock(_ name: String, host: String, port: Int, extraLabels: String = "") -> String {
            """
            [[Services]]
            Name = "\(name)"
            Endpoints = ["127.0.0.1:\(port)"]
            [Services.Labels]
            "com.docker.lb.hosts" = "\(host)"
            \(extraLabels)

            """
        }

        @Test func checkReportsEveryBrokenServiceAndServeServesTheGoodOne() async throws {
            let app = try await TestBackend.start("good")
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("pier.toml")
            let text = config(services: """
                [[Services]]
                Name = "bad-port"
                Endpoints = ["127.0.0.1"]
                [Services.Labels]
                "com.docker.lb.hosts" = "a.test"
                "com.docker.lb.port" = "80x"

                [[Services]]
                Name = "bad-mode"
                Endpoints = ["127.0.0.1:1"]
                [Services.Labels]
                "com.docker.lb.hosts" = "b.test"
                "com.docker.lb.backend_mode" = "foo"

                [[Services]]
                Name = "bad-root"
                Endpoints = ["127.0.0.1:1"]
                [Services.Labels]
                "com.docker.lb.hosts" = "c.test"
                "com.docker.lb.context_root" = "app"

                [[Services]]
                Name = "bad-redirect"
                Endpoints = ["127.0.0.1:1"]
                [Services.Labels]
                "com.docker.lb.hosts" = "d.test"
                "com.docker.lb.redirects" = "http://d.test"

                [[Services]]
                Name = "typo"
                Endpoints = ["127.0.0.1:1"]
                [Services.Labels]
                "com.docker.lb.host" = "e.test"

                """ + serviceBlock("good", host: "good.test", port: app.port))
            try text.write(to: file, atomically: true, encoding: .utf8)

            let check = try run(pierBinary, ["check", "--config", file.path])
            #expect(check.status == 1)
            let errors = check.out.split(separator: "\n").filter { $0.hasPrefix("error:") }
            #expect(errors.count == 5, "\(check.out)")
            #expect(errors.contains { $0.contains("service \"bad-port\": com.docker.lb.port=\"80x\"") })
            #expect(errors.contains { $0.contains("service \"bad-mode\": com.docker.lb.backend_mode=\"foo\"") })
            #expect(errors.contains { $0.contains("service \"bad-root\": com.docker.lb.context_root=\"app\"") })
            #expect(errors.contains { $0.contains("service \"bad-redirect\": com.docker.lb.redirects=\"http://d.test\"") })
            #expect(errors.contains { $0.contains("service \"typo\": com.docker.lb.host=\"e.test\"") && $0.contains("did you mean com.docker.lb.hosts?") })
            #expect(check.out.contains("good: routed, 1 endpoint"))

            let pier = try PierProcess(["serve", "--config", file.path])
            let port = try await pier.waitForPort()
            let r = try curl(["-H", "Host: good.test", "http://127.0.0.1:\(port)/"])
            #expect(echoFields(r.out)["backend"] == "good")
            #expect(try curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: a.test", "http://127.0.0.1:\(port)/"]).out == "503")
            #expect(pier.output.contains("com.docker.lb.port=\"80x\""))
            #expect(pier.terminate() == 0)
            await app.stop()
        }

        @Test func routesPrintsTheTable() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("pier.toml")
            try config(services: serviceBlock("web", host: "web.test", port: 9001, extraLabels: "\"com.docker.lb.context_root\" = \"/app\"\n\"com.docker.lb.context_root_rewrite\" = \"true\""))
                .write(to: file, atomically: true, encoding: .utf8)
            let r = try run(pierBinary, ["routes", "--config", file.path])
            #expect(r.status == 0)
            #expect(r.out.contains("web.test"))
            #expect(r.out.contains("/app"))
            #expect(r.out.contains("web [127.0.0.1:9001] (strip /app)"))
        }

        @Test func largeBodiesStreamBothWaysInBoundedMemory() async throws {
            let app = try await TestBackend.start("app")
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("pier.toml")
            try config(services: serviceBlock("app", host: "app.test", port: app.port)).write(to: file, atomically: true, encoding: .utf8)
            let pier = try PierProcess(["serve", "--config", file.path])
            let port = try await pier.waitForPort()
            let size = 128 * 1024 * 1024
            let before = pier.peakRSS

            let down = try curl(["-o", "/dev/null", "-w", "%{http_code} %{size_download}", "-H", "Host: app.test", "http://127.0.0.1:\(port)/download/\(size)"])
            #expect(down.out == "200 \(size)")

            let upload = dir.appendingPathComponent("upload.bin")
            _ = FileManager.default.createFile(atPath: upload.path, contents: nil)
            let handle = try FileHandle(forWritingTo: upload)
            let chunk = Data(repeating: 0x61, count: 1 << 20)
            for _ in 0..<(size >> 20) { handle.write(chunk) }
            try handle.close()
            let up = try curl(["-H", "Host: app.test", "-H", "Content-Type: application/octet-stream", "-T", upload.path, "http://127.0.0.1:\(port)/upload"])
            #expect(up.out == "received=\(size)\n")
            let chunked = try curl(["-H", "Host: app.test", "-H", "Transfer-Encoding: chunked", "-T", upload.path, "http://127.0.0.1:\(port)/upload"])
            #expect(chunked.out == "received=\(size)\n")

            let peak = pier.peakRSS
            // peakRSS is 0 when /proc cannot be read: then nothing was measured.
            #expect(before > 0 && peak > 0, "Pier's memory could not be read")
            // 3 × 128 MiB went through; Pier's peak memory grew by far less than one body.
            #expect(peak - before < 32 * 1024 * 1024, "peak RSS grew from \(before) to \(peak)")
            print("streaming: 3 × \(size >> 20) MiB through pier, peak RSS \(before >> 20) → \(peak >> 20) MiB")
            #expect(pier.terminate() == 0)
            await app.stop()
        }

        @Test func configReloadUnderLoadLosesNoRequest() async throws {
            let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("pier.toml")
            func write(_ edit: Int) throws {
                // Every edit moves `flip.test` between the two backends and changes a setting; `steady.test`
                // keeps routing to both throughout.
                let flip = edit % 2 == 0 ? a : b
                let text = config(services: serviceBlock("steady", host: "steady.test", port: a.port)
                    + serviceBlock("steady-b", host: "steady.test", port: b.port)
                    + serviceBlock("flip", host: "flip.test", port: flip.port),
                    extra: "ReadTimeout = \(600 + edit)")
                // Written in place (not renamed) half the time, as editors differ.
                if edit % 2 == 0 {
                    try text.write(to: file, atomically: true, encoding: .utf8)
                } else {
                    try Data(text.utf8).write(to: file)
                }
            }
            try write(0)
            let pier = try PierProcess(["serve", "--config", file.path])
            let port = try await pier.waitForPort()

            let load = Task {
                var ok = 0, failed: [String] = []
                while !Task.isCancelled {
                    do {
                        var req = HTTPClientRequest(url: "http://127.0.0.1:\(port)/")
                        req.headers.add(name: "Host", value: "steady.test")
                        let response = try await client.execute(req, timeout: .seconds(10))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        if response.status == .ok { ok += 1 } else { failed.append("status \(response.status.code)") }
                    } catch {
                        if Task.isCancelled { break }
                        failed.append("\(error)")
                    }
                }
                return (ok, failed)
            }
            var applied = 0
            var missed: [Int] = []
            var slowest: Duration = .zero
            for edit in 1...50 {
                try write(edit)
                // Wait until the edit is live (≤ 1 s), which also proves it applied.
                let expected = edit % 2 == 0 ? "a" : "b"
                let written = ContinuousClock.now
                let deadline = written + .seconds(1)
                while ContinuousClock.now < deadline {
                    // Probed in-process (no curl process per probe): the figure is Pier's, not a fork's.
                    var probe = HTTPClientRequest(url: "http://127.0.0.1:\(port)/")
                    probe.headers.add(name: "Host", value: "flip.test")
                    let reply = try await client.execute(probe, timeout: .seconds(5))
                    let body = String(buffer: try await reply.body.collect(upTo: 1 << 20))
                    if echoFields(body)["backend"] == expected {
                        applied += 1
                        slowest = max(slowest, ContinuousClock.now - written)
                        break
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
                if applied < edit { missed.append(edit) }
            }
            load.cancel()
            let (ok, failed) = await load.value
            #expect(applied == 50, "only \(applied) of 50 edits went live within 1 s; missed: \(missed)\n\(pier.output.suffix(3000))")
            #expect(failed.isEmpty, "\(failed.prefix(5))")
            #expect(ok > 100)
            print("reload under load: \(applied) of 50 edits live within 1 s (slowest \(slowest)), \(ok) requests, \(failed.count) failed")

            // An invalid edit is reported and the previous table stays live.
            try "this is [not toml".write(to: file, atomically: true, encoding: .utf8)
            try await Task.sleep(for: .milliseconds(600))
            #expect(pier.output.contains("configuration rejected"))
            #expect(echoFields(try curl(["-H", "Host: flip.test", "http://127.0.0.1:\(port)/"]).out)["backend"] == "a")
            #expect(!pier.output.contains("configuration accepted"))
            // Fixing the file is acknowledged, even though it compiles to the live routes.
            try write(50)
            let fixed = ContinuousClock.now + .seconds(2)
            while !pier.output.contains("configuration accepted"), ContinuousClock.now < fixed { try await Task.sleep(for: .milliseconds(20)) }
            #expect(pier.output.contains("configuration accepted"), "\(pier.output.suffix(2000))")
            #expect(pier.terminate() == 0)
            await a.stop()
            await b.stop()
        }

        @Test func sigtermLetsInFlightRequestsFinish() async throws {
            let app = try await TestBackend.start("app")
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("pier.toml")
            try config(services: serviceBlock("app", host: "app.test", port: app.port)).write(to: file, atomically: true, encoding: .utf8)
            let pier = try PierProcess(["serve", "--config", file.path, "--grace", "5"])
            let port = try await pier.waitForPort()
            let slow = Task { try curl(["-w", " %{http_code}", "-H", "Host: app.test", "http://127.0.0.1:\(port)/slow/1000"]) }
            try await Task.sleep(for: .milliseconds(300))
            kill(pier.process.processIdentifier, SIGTERM)
            try await Task.sleep(for: .milliseconds(200))
            // No longer accepting…
            let refused = try curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: app.test", "http://127.0.0.1:\(port)/"])
            #expect(refused.out == "000")
            // …but the in-flight request completes, and the process exits 0.
            let result = try await slow.value
            #expect(result.out.hasSuffix(" 200"), "\(result)")
            #expect(result.out.contains("slept=1000"))
            #expect(pier.terminate() == 0)
            await app.stop()
        }

        @Test func demoAnswersItsOwnCurlCommands() async throws {
            let pier = try PierProcess(["demo", "--port", "0"])
            _ = try await pier.waitForPort()
            // The printed instructions name the real port; run every curl line as printed.
            var commands: [String] = []
            let deadline = ContinuousClock.now + .seconds(10)
            while commands.isEmpty, ContinuousClock.now < deadline {
                commands = pier.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { $0.hasPrefix("curl ") }.map { String($0.split(separator: "#")[0]) }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(commands.count >= 5)
            for command in commands {
                let r = try run("/bin/sh", ["-c", command + " -s -o /dev/null -w '%{http_code}'"])
                #expect(["200", "301", "302"].contains(r.out), "\(command) → \(r.out)")
            }
            #expect(pier.terminate(signal: SIGINT) == 0)
        }
    }
}
