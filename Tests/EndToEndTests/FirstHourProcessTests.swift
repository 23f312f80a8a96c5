import Foundation
import Providers
import Testing

extension EndToEnd {
    /// What a new user meets first, through the `pier` executable: messages that name the path, address or
    /// entrypoint at fault, `--version` and help, the log line format, and `demo --print-config`.
    @Suite(.serialized)
    struct FirstHourProcessTests {
        let files = ProcessTests()

        /// Runs `pier` until it exits, at most `limit`; a `pier` still running then is stopped and reported
        /// as nil, so that a regression (serving on a bad file) fails the test instead of hanging it.
        func runToExit(_ arguments: [String], within limit: Duration = .seconds(30)) async throws -> (status: Int32?, output: String) {
            let pier = try PierProcess(arguments)
            let deadline = ContinuousClock.now + limit
            while pier.process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            if pier.process.isRunning {
                _ = pier.terminate()
                return (nil, pier.output)
            }
            pier.process.waitUntilExit()
            // The pipe's reader may still hold the last bytes.
            try await Task.sleep(for: .milliseconds(100))
            return (pier.process.terminationStatus, pier.output)
        }

        @Test func anEntrypointThatCannotListenSaysWhichWhereAndWhatToDo() async throws {
            let holder = try await TestBackend.start("holder")
            let taken = holder.port
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("pier.toml")
            try files.config(services: files.serviceBlock("web", host: "web.test", port: 1)).write(to: file, atomically: true, encoding: .utf8)

            let demo = try await runToExit(["demo", "--port", "\(taken)"])
            #expect(demo.status == 1, "\(demo.output)")
            #expect(demo.output.contains("cannot listen on the HTTP entrypoint 127.0.0.1:\(taken): address already in use"), "\(demo.output)")
            #expect(demo.output.contains("choose another port with --port N"))
            #expect(!demo.output.contains("bind(descriptor"))

            let http = try await runToExit(["serve", "-c", file.path, "--http", "127.0.0.1:\(taken)", "--https", "127.0.0.1:0"])
            #expect(http.status == 1, "\(http.output)")
            #expect(http.output.contains("cannot listen on the HTTP entrypoint 127.0.0.1:\(taken): address already in use"), "\(http.output)")
            #expect(http.output.contains("--http ADDR:PORT"))

            let https = try await runToExit(["serve", "-c", file.path, "--https", "127.0.0.1:\(taken)"])
            #expect(https.status == 1, "\(https.output)")
            #expect(https.output.contains("cannot listen on the HTTPS entrypoint 127.0.0.1:\(taken): address already in use"), "\(https.output)")
            #expect(https.output.contains("--https none"))
            await holder.stop()
        }

        @Test(arguments: ["check", "routes", "serve"])
        func aConfigurationPathThatIsNoFileStopsWithThePathAndWhy(command: String) async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let missing = dir.appendingPathComponent("missing.toml").path
            for (path, reason) in [(dir.path, "is a directory, not a file"), ("/dev/null", "not a regular file (a character device)"), (missing, "not found")] {
                let result = try await runToExit([command, "-c", path])
                #expect(result.status == 1, "\(command) -c \(path): \(result.output)")
                #expect(result.output.contains("cannot read the configuration file \"\(path)\": \(reason)"), "\(command) -c \(path): \(result.output)")
            }
        }

        @Test func aFileWithoutServicesIsWarnedAbout() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("pier.toml")
            try files.config(services: "").write(to: file, atomically: true, encoding: .utf8)
            let warning = "\"\(file.path)\" lists no service ([[Services]]): nothing is routed"
            let check = try run(pierBinary, ["check", "-c", file.path])
            #expect(check.status == 0)
            #expect(check.out.contains("warning: " + warning), "\(check.out)")
            #expect(check.out.contains("0 errors, 1 warning; 0 routes"))
            let routes = try run(pierBinary, ["routes", "-c", file.path])
            #expect(routes.out.contains("warning: " + warning), "\(routes.out)")
            let pier = try PierProcess(["serve", "-c", file.path])
            _ = try await pier.waitForPort()
            #expect(pier.output.contains(" warning " + warning), "\(pier.output)")
            #expect(pier.terminate() == 0)
        }

        @Test func aFileThatComesBackAfterVanishingIsAcknowledged() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("pier.toml")
            let text = files.config(services: files.serviceBlock("web", host: "web.test", port: 1))
            try text.write(to: file, atomically: true, encoding: .utf8)
            let pier = try PierProcess(["serve", "-c", file.path])
            _ = try await pier.waitForPort()
            func logged(_ line: String) async throws -> Bool {
                let deadline = ContinuousClock.now + .seconds(3)
                while !pier.output.contains(line), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                return pier.output.contains(line)
            }
            try FileManager.default.removeItem(at: file)
            #expect(try await logged("configuration file unreadable; previous routes stay live path=\(file.path) reason=not found"), "\(pier.output)")
            #expect(!pier.output.contains("configuration accepted"))
            // The same text back: the routes do not change, and the log says the file is taken again.
            try text.write(to: file, atomically: true, encoding: .utf8)
            #expect(try await logged("configuration accepted path=\(file.path)"), "\(pier.output)")
            #expect(pier.terminate() == 0)
        }

        @Test func versionAndHelp() throws {
            let version = try run(pierBinary, ["--version"])
            #expect(version.status == 0)
            #expect(version.out.hasPrefix("pier/"), "\(version)")
            #expect(version.out == (try run(pierBinary, ["version"])).out)
            // A default written in the help text must not be followed by ArgumentParser's own.
            let doubled = try Regex(#"default[^()]*\)\.?\s+\(default:"#)
            for command in [[], ["serve"], ["check"], ["routes"], ["explain"], ["demo"], ["version"]] {
                let help = try run(pierBinary, command + ["--help"])
                #expect(help.status == 0)
                #expect(help.out.contains("USAGE:"), "\(command)")
                #expect(help.out.firstMatch(of: doubled) == nil, "pier \(command.joined()) --help:\n\(help.out)")
            }
            let serve = try run(pierBinary, ["serve", "--help"]).out
            #expect(serve.contains("(default: one per core)"))
        }

        @Test func sigtermRightAfterListeningDrainsAndExitsZero() async throws {
            // The signals are trapped before the entrypoints bind: CI once saw this race kill Pier (exit by signal 15).
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("pier.toml")
            try files.config(services: files.serviceBlock("app", host: "app.test", port: 1, extraLabels: ""))
                .write(to: file, atomically: true, encoding: .utf8)
            for round in 0..<10 {
                let pier = try PierProcess(["serve", "-c", file.path])
                _ = try await pier.waitForPort()
                #expect(pier.terminate() == 0, "round \(round): \(pier.output)")
            }
        }

        @Test func logLinesSayTheirLevelOnceAndNoLabel() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("pier.toml")
            try files.config(services: files.serviceBlock("bad", host: "bad.test", port: 1, extraLabels: "\"com.docker.lb.backend_mode\" = \"foo\""))
                .write(to: file, atomically: true, encoding: .utf8)
            let pier = try PierProcess(["serve", "-c", file.path])
            _ = try await pier.waitForPort()
            #expect(pier.terminate() == 0)
            let lines = pier.output.split(separator: "\n").map(String.init)
            let time = #"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}"#
            let issue = try Regex("^" + time + #" error service "bad": com\.docker\.lb\.backend_mode="foo": \S"#)
            #expect(lines.contains { $0.firstMatch(of: issue) != nil }, "\(pier.output)")
            let listening = try Regex("^" + time + #" info entrypoint listening address=127\.0\.0\.1:\d+ scheme=http$"#)
            #expect(lines.contains { $0.firstMatch(of: listening) != nil }, "\(pier.output)")
            #expect(!pier.output.contains("[pier]") && !pier.output.contains(" pier:") && !pier.output.contains("error error:"))
        }

        @Test func demoPrintsTheConfigurationItRuns() async throws {
            let demo = try PierProcess(["demo", "--port", "0", "--print-config"])
            let port = try await demo.waitForPort()
            let deadline = ContinuousClock.now + .seconds(10)
            while !demo.output.contains("Pier demo is routing"), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let output = demo.output
            let start = try #require(output.range(of: "# Pier demo configuration"))
            let end = try #require(output.range(of: "Pier demo is routing", range: start.upperBound..<output.endIndex))
            let text = String(output[start.lowerBound..<end.lowerBound])
            #expect(text.contains("HTTP = \"127.0.0.1:\(port)\""))
            let config = try #require(ConfigFileParser.parse(text).0)
            #expect(config.httpsHost == nil, "the demo is plain HTTP: its printed file must not open 0.0.0.0:8443")
            #expect(config.services.count == 4)

            // The printed file, as it is, routes to the running demo's backends.
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("demo.toml")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let check = try run(pierBinary, ["check", "-c", file.path])
            #expect(check.status == 0)
            #expect(check.out.contains("0 errors, 0 warnings"), "\(check.out)")
            let copy = try PierProcess(["serve", "-c", file.path, "--http", "127.0.0.1:0", "--https", "none"])
            let copyPort = try await copy.waitForPort()
            for (host, path, backend) in [("app.example.org", "/api/users", "api"), ("unknown.example.org", "/", "fallback")] {
                let reply = try curl(["-H", "Host: \(host)", "http://127.0.0.1:\(copyPort)\(path)"]).out
                #expect(reply.hasPrefix("Hello from \(backend)!"), "\(host)\(path) → \(reply)")
            }
            #expect(copy.terminate() == 0)
            #expect(demo.terminate(signal: SIGINT) == 0)
        }
    }
}
