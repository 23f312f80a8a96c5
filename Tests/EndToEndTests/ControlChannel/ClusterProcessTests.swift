import Admin
import Foundation
import TestSupport
import Testing

/// `pier controller` and `pier proxy` as processes, with credentials from `pier ca init`: the table reaches the
/// proxy, follows a change, survives the controller, comes back from the state file, and `pier health` says
/// whether there is something to serve.
extension EndToEnd {
    @Suite struct ClusterProcessTests {
        /// `pier ca init` output laid out as Swarm mounts the secrets (pier-ca.crt, pier-<role>.crt/.key).
        static func credentials(in directory: URL) throws -> String {
            let ca = directory.appendingPathComponent("ca").path
            let result = try run(pierBinary, ["ca", "init", "--out", ca])
            guard result.status == 0 else { throw TestFailure("pier ca init: \(result.err)") }
            let secrets = directory.appendingPathComponent("secrets")
            try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
            for (from, to) in [("ca.crt", "pier-ca.crt"), ("controller.crt", "pier-controller.crt"), ("controller.key", "pier-controller.key"),
                               ("proxy.crt", "pier-proxy.crt"), ("proxy.key", "pier-proxy.key")] {
                try FileManager.default.copyItem(atPath: ca + "/" + from, toPath: secrets.appendingPathComponent(to).path)
            }
            return secrets.path
        }

        static func config(host: String, backend: TestBackend) -> String {
            """
            [[Services]]
            Name = "app"
            Endpoints = ["127.0.0.1:\(backend.port)"]
            [Services.Labels]
            "com.docker.lb.hosts" = "\(host)"
            "com.docker.lb.port" = "\(backend.port)"
            """
        }

        static func fetch(_ port: Int, host: String) -> (status: Int, body: String) {
            guard let result = try? run("/usr/bin/curl", ["-s", "-m", "2", "-H", "Host: \(host)", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)/"]),
                  let code = result.out.split(separator: "\n").last.flatMap({ Int($0) }) else { return (0, "") }
            return (code, result.out)
        }

        static func health(_ admin: Int) throws -> (status: Int32, out: String) {
            let result = try run(pierBinary, ["health", "--admin", "127.0.0.1:\(admin)"])
            return (result.status, result.out)
        }

        func proxy(_ secrets: String, controller: Int, state: String, shutdownDelay: Int = 0) throws -> PierProcess {
            try PierProcess(["proxy", "--controller", "127.0.0.1:\(controller)", "--http", "127.0.0.1:0", "--https", "none",
                             "--state", state, "--admin", "127.0.0.1:0", "--credentials", secrets, "--shutdown-delay", "\(shutdownDelay)",
                             "--grace", "1", "--name", "proxy-test", "--node", "here", "--no-access-log"])
        }

        @Test("controller and proxy processes: routes, a change, the controller killed, a restart from the state file, health")
        func controllerAndProxy() async throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let secrets = try Self.credentials(in: directory)
            let a = try await TestBackend.start("A")
            let file = directory.appendingPathComponent("pier.toml").path
            try Self.config(host: "app.test", backend: a).write(toFile: file, atomically: true, encoding: .utf8)
            let state = directory.appendingPathComponent("proxy.state").path

            let controller = try PierProcess(["controller", "--config", file, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                                              "--credentials", secrets, "--name", "ctl-test", "--node", "here"])
            let control = try await controller.waitForAddress(of: "control channel listening")
            let first = try proxy(secrets, controller: control, state: state)
            let port = try await first.waitForPort()
            let admin = try await first.waitForAddress(of: "admin listening")
            #expect(await becomesTrue(10) { Self.fetch(port, host: "app.test").status == 200 }, "\(first.output)")
            #expect(try Self.health(admin).status == 0)
            #expect(first.output.contains("connected to controller") && first.output.contains("ctl-test"))
            #expect(controller.output.contains("proxy connected") && controller.output.contains("proxy-test"))
            // The controller lists its proxies: name, node, the version sent (current) and acknowledged.
            let controllerAdmin = try await controller.waitForAddress(of: "admin listening")
            #expect(await becomesTrue(5) {
                let status = (try? run(pierBinary, ["status", "--admin", "127.0.0.1:\(controllerAdmin)"]))?.out ?? ""
                return status.contains("proxies (1):") && status.contains("proxy-test") && status.contains("(current)") && status.contains(" yes ")
            }, "\((try? run(pierBinary, ["status", "--admin", "127.0.0.1:\(controllerAdmin)"]))?.out ?? "")")
            let proxyStatus = try run(pierBinary, ["status", "--admin", "127.0.0.1:\(admin)"]).out
            #expect(proxyStatus.contains("proxy proxy-test: controller ctl-test"), "\(proxyStatus)")
            // The control channel in each side's metrics.
            let controllerMetrics = try PrometheusExposition(parsing: await AdminProbe.get(
                host: "127.0.0.1", port: controllerAdmin, path: "/metrics", timeout: .seconds(2)).body)
            #expect(controllerMetrics.value("pier_control_subscribers") == 1)
            let proxyMetrics = try PrometheusExposition(parsing: await AdminProbe.get(host: "127.0.0.1", port: admin, path: "/metrics", timeout: .seconds(2)).body)
            #expect(proxyMetrics.value("pier_control_connected") == 1)
            #expect(proxyMetrics.value("pier_route_table_generation") == 1)
            // The state file is private and holds no readable key or route.
            let attributes = try FileManager.default.attributesOfItem(atPath: state)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let sealed = try Data(contentsOf: URL(fileURLWithPath: state))
            #expect(!String(decoding: sealed, as: UTF8.self).contains("app.test"))

            // A change of the controller's file reaches the proxy.
            try Self.config(host: "moved.test", backend: a).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await becomesTrue(10) { Self.fetch(port, host: "moved.test").status == 200 })

            // The controller killed: the proxy serves on, ready.
            _ = controller.terminate(signal: SIGKILL)
            try await Task.sleep(for: .milliseconds(300))
            for _ in 0..<10 { #expect(Self.fetch(port, host: "moved.test").status == 200) }
            #expect(try Self.health(admin).status == 0)
            #expect(first.terminate() == 0)

            // A proxy starting while no controller answers serves the persisted table and is ready.
            let second = try proxy(secrets, controller: control, state: state, shutdownDelay: 2)
            let port2 = try await second.waitForPort()
            let admin2 = try await second.waitForAddress(of: "admin listening")
            #expect(Self.fetch(port2, host: "moved.test").status == 200, "\(second.output)")
            #expect(second.output.contains("serving persisted table"))
            #expect(try Self.health(admin2).status == 0)
            // From SIGTERM on it is not ready (draining) while the shutdown delay runs, and still serves.
            kill(second.process.processIdentifier, SIGTERM)
            #expect(await becomesTrue(2) { (try? Self.health(admin2))?.out.contains("not ready: draining") == true })
            #expect(Self.fetch(port2, host: "moved.test").status == 200)
            second.process.waitUntilExit()
            #expect(second.process.terminationStatus == 0)

            // Without a state file and without a controller there is nothing to serve: not ready, and why.
            let third = try proxy(secrets, controller: control, state: directory.appendingPathComponent("none.state").path)
            _ = try await third.waitForPort()
            let admin3 = try await third.waitForAddress(of: "admin listening")
            let unready = try Self.health(admin3)
            #expect(unready.status == 1)
            #expect(unready.out.contains("no table yet"), "\(unready.out)")
            _ = third.terminate()
            #expect(!(first.output + second.output + controller.output).contains("PRIVATE KEY"))
            await a.stop()
        }

        @Test("a controller refuses a label naming one of Pier's own credential secrets")
        func reservedSecretNames() async throws {
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let secrets = try Self.credentials(in: directory)
            let file = directory.appendingPathComponent("pier.toml").path
            try """
            [Config]
            SecretsDirectory = "\(secrets)"
            [[Services]]
            Name = "thief"
            Endpoints = ["127.0.0.1:9"]
            [Services.Labels]
            "com.docker.lb.hosts" = "thief.test"
            "com.docker.lb.port" = "9"
            "com.docker.lb.ssl_cert" = "pier-controller.crt"
            "com.docker.lb.ssl_key" = "pier-controller.key"
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let controller = try PierProcess(["controller", "--config", file, "--listen", "127.0.0.1:0", "--admin", "none",
                                              "--credentials", secrets])
            _ = try await controller.waitForAddress(of: "control channel listening")
            #expect(await becomesTrue { controller.output.contains("names one of Pier's own credentials") }, "\(controller.output)")
            _ = controller.terminate()
        }
    }
}
