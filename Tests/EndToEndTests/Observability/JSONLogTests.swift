import Foundation
import TestSupport
import Testing

/// `--log-format json` on real `pier` processes: every line they write is one JSON object, the access log's
/// numbers are numbers, and a failed request carries its cause. The default text format keeps its layout.
extension EndToEnd {
    @Suite(.serialized)
    struct JSONLogTests {
        static func config(backend: TestBackend) -> String {
            """
            [Entrypoints]
            HTTP = "127.0.0.1:0"

            [Config]
            AccessLog = true

            """ + ProcessTests().serviceBlock("good", host: "good.test", port: backend.port)
                + ProcessTests().serviceBlock("bad-port", host: "bad.test", port: 1, extraLabels: "\"com.docker.lb.port\" = \"80x\"")
        }

        /// Each line of `output` parsed as a JSON object; a line that is not one is recorded as an issue.
        static func objects(_ output: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
            output.split(separator: "\n").compactMap { line in
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                if object == nil { Issue.record("not a JSON object: \(line)", sourceLocation: sourceLocation) }
                return object
            }
        }

        /// The port of the first line whose `msg` is `message` (and whose `scheme` is `scheme`, when given).
        static func port(of message: String, scheme: String? = nil, in pier: PierProcess) async throws -> Int {
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                for line in pier.output.split(separator: "\n") {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                          object["msg"] as? String == message, scheme == nil || object["scheme"] as? String == scheme,
                          let address = object["address"] as? String, let colon = address.lastIndex(of: ":"),
                          let port = Int(address[address.index(after: colon)...]) else { continue }
                    return port
                }
                if !pier.process.isRunning { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw TestFailure("no \(message) line: \(pier.output)")
        }

        /// The access log lines (`log` = `access`) of `objects`.
        static func accessLines(_ objects: [[String: Any]]) -> [[String: Any]] {
            objects.filter { $0["log"] as? String == "access" }
        }

        /// A JSON number, not a string that reads as one.
        static func number(_ value: Any?) -> Double? {
            guard let value, !(value is String), let number = value as? NSNumber else { return nil }
            return number.doubleValue
        }

        static var rfc3339: Regex<Substring> { #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/# }

        /// A backend and `pier serve` on `config(backend:)` in a fresh directory, with `arguments` added.
        static func serve(_ arguments: [String]) async throws -> (backend: TestBackend, pier: PierProcess, directory: URL) {
            let backend = try await TestBackend.start("good")
            let directory = try temporaryDirectory()
            let file = directory.appendingPathComponent("pier.toml")
            try config(backend: backend).write(to: file, atomically: true, encoding: .utf8)
            return (backend, try PierProcess(["serve", "--config", file.path] + arguments), directory)
        }

        static func status(_ port: Int, host: String, path: String = "/") throws -> String {
            try curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: \(host)", "http://127.0.0.1:\(port)\(path)"]).out
        }

        @Test("pier serve --log-format json: every line is an object; access lines carry numbers, route, service and the cause")
        func serveWritesJSONLines() async throws {
            let (backend, pier, dir) = try await Self.serve(["--log-format", "json"])
            defer { try? FileManager.default.removeItem(at: dir) }
            // Read while the backend listens: a stopped one has no address.
            let backendPort = backend.port
            let port = try await Self.port(of: "entrypoint listening", scheme: "http", in: pier)

            #expect(try Self.status(port, host: "good.test") == "200")
            // The backend closes without answering; one endpoint, so nowhere to retry: 502.
            #expect(try Self.status(port, host: "good.test", path: "/close") == "502")
            #expect(try Self.status(port, host: "nobody.test") == "503")
            #expect(await becomesTrue(10) { Self.accessLines(Self.objects(pier.output)).count >= 3 }, "\(pier.output)")
            #expect(pier.terminate() == 0)
            await backend.stop()

            let objects = Self.objects(pier.output)
            #expect(objects.count >= 5, "\(pier.output)")
            for object in objects {
                #expect((object["time"] as? String)?.wholeMatch(of: Self.rfc3339) != nil, "\(object)")
                #expect(["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(object["level"] as? String ?? ""))
                #expect(object["msg"] is String)
            }
            // A rejected label's issue: its quotes survive the escaping.
            #expect(objects.contains { ($0["msg"] as? String)?.contains("com.docker.lb.port=\"80x\"") ?? false }, "\(pier.output)")

            let access = Self.accessLines(objects)
            let ok = try #require(access.first { $0["path"] as? String == "/" && $0["host"] as? String == "good.test" })
            #expect(Self.number(ok["status"]) == 200)
            #expect(Self.number(ok["bytes"]).map { $0 > 0 } == true)
            #expect(Self.number(ok["duration_ms"]) != nil)
            #expect(Self.number(ok["upstream_ms"]) != nil)
            #expect(Self.number(ok["retries"]) == 0)
            #expect(ok["route"] as? String == "good.test/")
            #expect(ok["service"] as? String == "good")
            #expect(ok["entrypoint"] as? String == "http")
            #expect(ok["upstream"] as? String == "127.0.0.1:\(backendPort)")
            #expect(ok["method"] as? String == "GET" && ok["proto"] as? String == "HTTP/1.1")
            #expect(ok["msg"] as? String == "request" && ok["level"] as? String == "info")
            #expect((ok["request_id"] as? String)?.count == 32)
            #expect(ok["client"] as? String == "127.0.0.1")
            #expect(ok["cause"] == nil, "a success has no cause")

            let failed = try #require(access.first { $0["path"] as? String == "/close" })
            #expect(Self.number(failed["status"]) == 502)
            #expect(failed["cause"] as? String == "upstream.closed_before_response")
            #expect(failed["retry"] as? String == "no_other_endpoint")
            #expect(failed["route"] as? String == "good.test/" && failed["service"] as? String == "good")

            let unrouted = try #require(access.first { $0["host"] as? String == "nobody.test" })
            #expect(Self.number(unrouted["status"]) == 503)
            #expect(unrouted["cause"] as? String == "router.no_route")
            #expect(unrouted["route"] as? String == "-" && unrouted["service"] as? String == "-")
        }

        @Test("the default text format: time level message key=value, sorted; a failure says cause=")
        func textFormatIsUnchanged() async throws {
            let (backend, pier, dir) = try await Self.serve([])
            defer { try? FileManager.default.removeItem(at: dir) }
            let port = try await pier.waitForPort()
            #expect(try Self.status(port, host: "good.test") == "200")
            #expect(try Self.status(port, host: "good.test", path: "/close") == "502")
            #expect(await becomesTrue(10) { pier.output.components(separatedBy: " info request ").count > 2 }, "\(pier.output)")
            #expect(pier.terminate() == 0)
            await backend.stop()

            let lines = pier.output.split(separator: "\n").map(String.init)
            #expect(!lines.contains { $0.hasPrefix("{") })
            let line = #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (\w+) (.+)$/#
            for text in lines { #expect(text.wholeMatch(of: line) != nil, "\(text)") }
            let ok = try #require(lines.first { $0.contains(" info request ") && $0.contains(" path=/ ") })
            let fields = ok.split(separator: " ").dropFirst(3).map { String($0.prefix { $0 != "=" }) }
            #expect(fields == fields.sorted(), "metadata sorted by key: \(ok)")
            #expect(ok.contains(" status=200 ") && ok.contains(" log=access ") && ok.contains(" route=good.test/ ") && ok.contains(" service=good "))
            #expect(!ok.contains("cause="))
            let failed = try #require(lines.first { $0.contains(" path=/close ") })
            #expect(failed.contains(" cause=upstream.closed_before_response ") && failed.contains(" status=502 "), "\(failed)")
        }

        @Test("pier controller and pier proxy --log-format json: every line is an object; the proxy's access line too")
        func clusterRolesWriteJSONLines() async throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let secrets = try ClusterProcessTests.credentials(in: directory)
            let backend = try await TestBackend.start("A")
            let file = directory.appendingPathComponent("pier.toml").path
            try ClusterProcessTests.config(host: "app.test", backend: backend).write(toFile: file, atomically: true, encoding: .utf8)
            let controller = try PierProcess(["controller", "--config", file, "--listen", "127.0.0.1:0", "--admin", "none",
                                              "--credentials", secrets, "--log-format", "json"])
            let control = try await Self.port(of: "control channel listening", in: controller)
            let proxy = try PierProcess(["proxy", "--controller", "127.0.0.1:\(control)", "--http", "127.0.0.1:0", "--https", "none",
                                         "--state", "none", "--admin", "none", "--credentials", secrets, "--shutdown-delay", "0",
                                         "--grace", "1", "--log-format", "json"])
            let port = try await Self.port(of: "entrypoint listening", in: proxy)
            #expect(await becomesTrue(10) { (try? Self.status(port, host: "app.test")) == "200" }, "\(proxy.output)")
            #expect(await becomesTrue(10) {
                Self.accessLines(Self.objects(proxy.output)).contains { Self.number($0["status"]) == 200 }
            }, "\(proxy.output)")
            #expect(proxy.terminate() == 0)
            #expect(controller.terminate() == 0)
            await backend.stop()

            let proxyLines = Self.objects(proxy.output), controllerLines = Self.objects(controller.output)
            #expect(controllerLines.contains { $0["msg"] as? String == "proxy connected" }, "\(controller.output)")
            let ok = try #require(Self.accessLines(proxyLines).first { Self.number($0["status"]) == 200 })
            #expect(ok["route"] as? String == "app.test/" && ok["service"] as? String == "app")
        }
    }
}
