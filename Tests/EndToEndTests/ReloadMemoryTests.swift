import Foundation
import Testing

extension EndToEnd {
    /// Memory across reloads (issue 13): a route table generation must leave nothing behind. The real `pier`
    /// binary reloads 1,000 times, from a watched file and from a Docker Engine; its resident memory after the
    /// last reload stays within `bound` of what it was after the first 100 (the first reloads warm up malloc's
    /// arenas and caches). Before the fix, each reload of a ten-service file kept about 19 KiB: 17 MiB here.
    @Suite(.serialized)
    struct ReloadMemoryTests {
        static let bound = 2 * 1024 * 1024

        /// A ten-service file; `edit` renames the first service's host, so every edit is a new table.
        func config(edit: Int) -> String {
            var text = """
                [Entrypoints]
                HTTP = "127.0.0.1:0"
                HTTPS = ""

                [Config]
                AccessLog = false

                """
            for i in 0..<10 {
                text += """
                    [[Services]]
                    Name = "svc\(i)"
                    Endpoints = ["127.0.0.1:\(9000 + i)"]
                    [Services.Labels]
                    "com.docker.lb.hosts" = "\(i == 0 ? "svc0-\(edit % 2)" : "svc\(i)").file.test"
                    "com.docker.lb.context_root" = "/app\(i)"

                    """
            }
            return text
        }

        @Test func fileReloadsKeepMemoryFlat() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("pier.toml")
            try config(edit: 0).write(to: file, atomically: true, encoding: .utf8)
            // A 5 ms watch interval lets 1,000 edits go through in seconds instead of minutes.
            let pier = try PierProcess(["serve", "--config", file.path, "--https", "none", "--watch-interval", "5"])
            _ = try await pier.waitForPort()
            var updates = LogCounter(pier, "routes updated")
            func reload(_ edit: Int) async throws {
                let before = updates.count()
                try config(edit: edit).write(to: file, atomically: true, encoding: .utf8)
                let deadline = ContinuousClock.now + .seconds(5)
                while updates.count() == before {
                    guard ContinuousClock.now < deadline else { throw TestFailure("edit \(edit) was not applied: \(pier.output.suffix(2000))") }
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            let (early, late) = try await measure(pier) { from, to in
                for edit in from..<to { try await reload(edit + 1) }
            }
            print("file provider: RSS after 100 reloads \(early >> 10) KiB, after 1,000 \(late >> 10) KiB (\((late - early) >> 10) KiB more)")
            #expect(late - early < Self.bound, "RSS grew by \((late - early) >> 10) KiB between the 100th and the 1,000th reload")
            #expect(pier.terminate() == 0)
        }

        @Test func swarmResyncsKeepMemoryFlat() async throws {
            // Every other pair of resyncs finds the engine changed: half publish a new table, half find the
            // snapshot they found before.
            let engine = try await FakeDockerEngine.start(services: 10) { resync in (resync / 2) % 2 }
            // Resyncs come from the engine's events; the periodic one is pushed out of the way.
            let pier = try PierProcess(["serve", "--docker-host", "tcp://127.0.0.1:\(engine.port)", "--http", "127.0.0.1:0",
                                        "--https", "none", "--poll-interval", "600000", "--no-access-log", "--log-level", "debug"])
            _ = try await pier.waitForPort()
            let (early, late) = try await measure(pier) { _, to in
                let deadline = ContinuousClock.now + .seconds(60)
                while engine.resyncs < to {
                    guard ContinuousClock.now < deadline, pier.process.isRunning else {
                        throw TestFailure("only \(engine.resyncs) resyncs: \(pier.output.suffix(2000))")
                    }
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            let published = pier.output.components(separatedBy: "routes updated").count - 1
            let skipped = pier.output.components(separatedBy: "engine unchanged; nothing compiled").count - 1
            print("swarm provider: \(engine.resyncs) resyncs, \(published) tables published, \(skipped) compiles skipped; RSS after 100 \(early >> 10) KiB, after 1,000 \(late >> 10) KiB (\((late - early) >> 10) KiB more)")
            #expect(published > 300, "changing snapshots were published")
            // A resync that finds what the previous one found compiles nothing.
            #expect(skipped > 300 && published + skipped >= engine.resyncs - 2, "\(published) published, \(skipped) skipped of \(engine.resyncs)")
            #expect(late - early < Self.bound, "RSS grew by \((late - early) >> 10) KiB between the 100th and the 1,000th resync")
            #expect(pier.terminate() == 0)
            await engine.stop()
        }

        /// RSS after `run(0, 100)` and after `run(100, 1000)`.
        func measure(_ pier: PierProcess, _ run: (Int, Int) async throws -> Void) async throws -> (Int, Int) {
            try await run(0, 100)
            try await Task.sleep(for: .milliseconds(300))
            let early = pier.rss
            try await run(100, 1000)
            try await Task.sleep(for: .milliseconds(300))
            let late = pier.rss
            #expect(early > 0 && late > 0, "Pier's memory could not be read")
            return (early, late)
        }
    }

    /// Counts the log lines that contain `text`, reading only what was logged since the last count.
    struct LogCounter {
        let pier: PierProcess
        let text: String
        private var scanned = 0
        private var total = 0

        init(_ pier: PierProcess, _ text: String) {
            self.pier = pier
            self.text = text
        }

        mutating func count() -> Int {
            let output = pier.output.utf8
            guard let newline = output.lastIndex(of: UInt8(ascii: "\n")) else { return total }
            let end = output.distance(from: output.startIndex, to: newline) + 1
            if end > scanned {
                let fresh = String(decoding: output.dropFirst(scanned).prefix(end - scanned), as: UTF8.self)
                total += fresh.split(separator: "\n").filter { $0.contains(text) }.count
                scanned = end
            }
            return total
        }
    }
}
