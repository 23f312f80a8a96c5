import Admin
import Foundation
import TestSupport
import Testing

/// The admin entrypoint of a real `pier serve`: the status of a rejected label, readiness, the token, the
/// metrics text, and that no traffic entrypoint answers for it.
extension EndToEnd {
    @Suite struct AdminTests {
        static func config(backend: Int, apiPort: String) -> String {
            """
            [Entrypoints]
            HTTP = "127.0.0.1:0"

            [Config]
            AccessLog = false

            [[Services]]
            Name = "web"
            Endpoints = ["127.0.0.1:\(backend)"]
            [Services.Labels]
            "com.docker.lb.hosts" = "app.test"
            "com.docker.lb.port" = "\(backend)"

            [[Services]]
            Name = "api"
            Endpoints = ["127.0.0.1:\(backend)"]
            [Services.Labels]
            "com.docker.lb.hosts" = "api.test"
            "com.docker.lb.port" = "\(apiPort)"
            """
        }

        /// A `pier serve` of `config(backend:apiPort:)` in a temporary folder, with an admin token file when
        /// `token` is given; the caller stops `pier` and removes `directory`.
        struct Served {
            var pier: PierProcess
            var directory: URL
            var file: String
            var tokenFile: String?
            var port: Int
            var admin: Int
        }

        static func serve(backend: Int, apiPort: String, token: String?) async throws -> Served {
            let directory = try temporaryDirectory()
            let file = directory.appendingPathComponent("pier.toml").path
            try config(backend: backend, apiPort: apiPort).write(toFile: file, atomically: true, encoding: .utf8)
            var arguments = ["serve", "-c", file, "--admin", "127.0.0.1:0"]
            var tokenFile: String?
            if let token {
                tokenFile = directory.appendingPathComponent("token").path
                try (token + "\n").write(toFile: tokenFile!, atomically: true, encoding: .utf8)
                arguments += ["--admin-token-file", tokenFile!]
            }
            let pier = try PierProcess(arguments)
            let port = try await pier.waitForPort()
            let admin = try await pier.waitForAddress(of: "admin listening")
            return Served(pier: pier, directory: directory, file: file, tokenFile: tokenFile, port: port, admin: admin)
        }

        /// GET on 127.0.0.1:`port` with `curl`: status code and body.
        static func get(_ port: Int, _ path: String, host: String? = nil, token: String? = nil) throws -> (status: Int, body: String) {
            var arguments = ["-s", "-m", "5", "-w", "\n%{http_code}"]
            if let host { arguments += ["-H", "Host: \(host)"] }
            if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
            let result = try run("/usr/bin/curl", arguments + ["http://127.0.0.1:\(port)\(path)"])
            var lines = result.out.components(separatedBy: "\n")
            let code = Int(lines.removeLast()) ?? 0
            return (code, lines.joined(separator: "\n"))
        }

        @Test("/api/status shows the rejected label's key, value and reason; ready; token 401/200; metrics parse")
        func statusReadinessTokenMetrics() async throws {
            let backend = try await TestBackend.start("B")
            let served = try await Self.serve(backend: backend.port, apiPort: "80x", token: "t0ken-for-tests")
            defer { try? FileManager.default.removeItem(at: served.directory) }
            let pier = served.pier, port = served.port, admin = served.admin, file = served.file, tokenFile = served.tokenFile!
            defer { _ = pier.terminate() }
            #expect(port != admin)

            #expect(try Self.get(admin, "/healthz").status == 200)
            #expect(await becomesTrue(5) { (try? Self.get(admin, "/readyz"))?.status == 200 })
            #expect(try Self.get(admin, "/readyz").body == "ready\n")
            // Probes are open; data needs the token.
            let refused = try Self.get(admin, "/api/status")
            #expect(refused.status == 401)
            #expect(try Self.get(admin, "/api/status", token: "wrong").status == 401)
            #expect(try Self.get(admin, "/metrics").status == 401)
            let answered = try Self.get(admin, "/api/status", token: "t0ken-for-tests")
            #expect(answered.status == 200)

            let status = try StatusJSON.decode(answered.body)
            #expect(status.role == "serve" && status.ready && status.generation == 1)
            let api = try #require(status.services.first { $0.name == "api" })
            #expect(api.state == "rejected")
            let issue = try #require(api.issues.first { $0.key == "com.docker.lb.port" }, "\(answered.body)")
            #expect(issue.value == "80x")
            #expect(issue.severity == "error")
            #expect(issue.reason.contains("port"), "\(issue.reason)")
            let web = try #require(status.services.first { $0.name == "web" })
            #expect(web.state == "routed" && web.routes == ["app.test/"])
            #expect(web.endpoints.map(\.address) == ["127.0.0.1:\(backend.port)"])
            #expect(status.routes.map(\.route) == ["app.test/"])
            let routes = try Self.get(admin, "/api/routes", token: "t0ken-for-tests")
            #expect(routes.status == 200 && routes.body.contains("\"app.test/\""))
            // `pier status` reads the same document.
            let printed = try run(pierBinary, ["status", "--admin", "127.0.0.1:\(admin)", "--admin-token-file", tokenFile]).out
            #expect(printed.contains("api: rejected") && printed.contains("com.docker.lb.port=\"80x\""), "\(printed)")

            // Traffic through the HTTP entrypoint is counted by the data plane and joins the same scrape.
            #expect(try Self.get(port, "/", host: "app.test").status == 200)
            #expect(try Self.get(port, "/", host: "nowhere.test").status == 503)
            let metrics = try Self.get(admin, "/metrics", token: "t0ken-for-tests")
            #expect(metrics.status == 200)
            let parsed = try PrometheusExposition(parsing: metrics.body)
            #expect(parsed.value("pier_http_requests_total", ["entrypoint": "http", "route": "app.test/", "service": "web", "method": "GET", "code": "2xx"]) == 1,
                    "\(metrics.body)")
            #expect(parsed.value("pier_http_failures_total", ["side": "router", "kind": "no_route"]) == 1)
            #expect(parsed.value("pier_endpoint_healthy", ["service": "web", "endpoint": "127.0.0.1:\(backend.port)"]) == 1)
            // The dashboard's counters come from the same snapshot.
            let traffic = try Self.get(admin, "/api/status", token: "t0ken-for-tests").body.filter { !$0.isWhitespace }
            #expect(traffic.contains("\"kind\":\"no_route\"") && traffic.contains("\"healthy\":true"), "\(traffic)")
            #expect(parsed.value("pier_route_table_generation") == 1, "\(metrics.body)")
            #expect(parsed.value("pier_route_issues", ["severity": "error"]) == 1)
            #expect(parsed.value("pier_services", ["state": "rejected"]) == 1)

            // A fixed label is a reload: the next generation, the issue gone.
            try Self.config(backend: backend.port, apiPort: "\(backend.port)").write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await becomesTrue(10) {
                guard let body = try? Self.get(admin, "/api/status", token: "t0ken-for-tests").body,
                      let status = try? StatusJSON.decode(body) else { return false }
                return status.generation == 2 && status.issues.isEmpty && status.services.allSatisfy { $0.state == "routed" }
            })
            let after = try PrometheusExposition(parsing: try Self.get(admin, "/metrics", token: "t0ken-for-tests").body)
            #expect(after.value("pier_route_table_generation") == 2)
            #expect(after.value("pier_route_issues", ["severity": "error"]) == 0)
            #expect(pier.terminate() == 0)
            await backend.stop()
        }

        @Test("the admin paths are not reachable through the HTTP entrypoint: routed or 503 like any path")
        func notOnTrafficEntrypoints() async throws {
            let backend = try await TestBackend.start("B")
            let served = try await Self.serve(backend: backend.port, apiPort: "80x", token: nil)
            defer { try? FileManager.default.removeItem(at: served.directory) }
            let pier = served.pier, port = served.port, admin = served.admin
            defer { _ = pier.terminate() }
            for path in ["/api/status", "/metrics", "/healthz", "/readyz", "/dashboard", "/status", "/ready"] {
                // A routed host: the backend answers, whatever the path (a query keeps TestBackend's own
                // /healthz out of the way: it echoes the request).
                let routed = try Self.get(port, path + "?via=traffic", host: "app.test")
                #expect(routed.status == 200, "\(path)")
                #expect(echoFields(routed.body)["backend"] == "B", "\(path): \(routed.body)")
                #expect(echoFields(routed.body)["uri"] == path + "?via=traffic")
                // No route: Pier's own 503, not the admin page.
                for host in ["unknown.test", "127.0.0.1:\(port)", "localhost"] {
                    let unrouted = try Self.get(port, path, host: host)
                    #expect(unrouted.status == 503, "\(path) on \(host): \(unrouted)")
                    #expect(!unrouted.body.contains("pier_") && !unrouted.body.contains("\"services\"") && !unrouted.body.contains("<html"))
                }
                // The admin entrypoint answers it.
                #expect(try Self.get(admin, path).status == 200, "\(path)")
            }
            #expect(pier.terminate() == 0)
            await backend.stop()
        }

        @Test("/readyz: 503 with the reason until a first table is live (a Docker Engine that does not answer)")
        func notReadyWithoutTable() async throws {
            let engine = try await refusedPort()
            let pier = try PierProcess(["serve", "--docker-host", "tcp://127.0.0.1:\(engine)", "--http", "127.0.0.1:0", "--no-access-log"])
            defer { _ = pier.terminate() }
            _ = try await pier.waitForPort()
            let admin = try await pier.waitForAddress(of: "admin listening")
            let ready = try Self.get(admin, "/readyz")
            #expect(ready.status == 503)
            #expect(ready.body == "not ready: no route table yet\n")
            #expect(try Self.get(admin, "/healthz").status == 200)
            let status = try StatusJSON.decode(try Self.get(admin, "/api/status").body)
            #expect(!status.ready && status.generation == nil && status.notReady == "no route table yet")
        }

        @Test("--admin none: no admin entrypoint; a taken admin address is one clear line and exit 1")
        func offAndTaken() async throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = directory.appendingPathComponent("pier.toml").path
            try Self.config(backend: 9, apiPort: "9").write(toFile: file, atomically: true, encoding: .utf8)
            let off = try PierProcess(["serve", "-c", file, "--admin", "none"])
            _ = try await off.waitForPort()
            #expect(!off.output.contains("admin listening"))
            #expect(off.terminate() == 0)

            let first = try PierProcess(["serve", "-c", file, "--admin", "127.0.0.1:0"])
            defer { _ = first.terminate() }
            let taken = try await first.waitForAddress(of: "admin listening")
            let second = try PierProcess(["serve", "-c", file, "--admin", "127.0.0.1:\(taken)"])
            second.process.waitUntilExit()
            try await Task.sleep(for: .milliseconds(100))
            #expect(second.process.terminationStatus == 1)
            #expect(second.output.contains("cannot listen on the admin address 127.0.0.1:\(taken)"), "\(second.output)")
            #expect(second.output.contains("--admin none"))
        }
    }
}
