import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

extension EndToEnd {
    /// The Swarm provider against a real Docker Engine in Swarm mode (`scripts/swarm-env start`, which
    /// `scripts/test` and CI run first). Pier runs on the host; the services publish their port in host mode on
    /// an overlay network, so Pier reaches each task at 127.0.0.1:<published port>.
    /// Skipped (not passed) when no engine is available.
    @Suite(.serialized, .enabled(if: SwarmEngine.available, "needs a Docker Engine in Swarm mode: run scripts/swarm-env start"))
    struct SwarmTests {
        let engine = SwarmEngine()

        @Test func createdServiceRoutesScalesAndFollowsLabels() async throws {
            let name = "pier-t-\(UInt32.random(in: 0...UInt32.max))"
            defer { engine.removeService(name) }
            let pier = try PierProcess(["serve", "--docker-host", SwarmEngine.host, "--http", "127.0.0.1:0", "--no-access-log"])
            let port = try await pier.waitForPort()

            // Create → routable: the time from the create call returning to the first 200.
            try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", name,
                               "--network", SwarmEngine.network, "--publish", "mode=host,target=8080",
                               "--label", "com.docker.lb.hosts=\(name).test", "--label", "com.docker.lb.port=8080",
                               SwarmEngine.image])
            let created = ContinuousClock.now
            let first = try await waitFor(seconds: 20) { try fetch(port, host: "\(name).test").status == 200 }
            let latency = ContinuousClock.now - created
            #expect(first)
            print("swarm: create → first 200 in \(latency)")
            #expect(latency < .seconds(5), "create → first 200 took \(latency)")

            // Scale to 3: requests spread over 3 tasks.
            try engine.docker(["service", "scale", "--detach", "\(name)=3"])
            let three = try await waitFor(seconds: 30) {
                try tasksAnswering(port, host: "\(name).test", requests: 12) == 3
            }
            #expect(three, "requests did not spread over 3 tasks")

            // A label update moves the route: the new host routes, the old one is 503.
            try engine.docker(["service", "update", "--detach", "--label-add", "com.docker.lb.hosts=\(name)-new.test", name])
            let moved = try await waitFor(seconds: 10) {
                try fetch(port, host: "\(name)-new.test").status == 200 && fetch(port, host: "\(name).test").status == 503
            }
            #expect(moved)

            // Scale to 0: 503.
            try engine.docker(["service", "scale", "--detach", "\(name)=0"])
            let gone = try await waitFor(seconds: 30) { try fetch(port, host: "\(name)-new.test").status == 503 }
            #expect(gone)
            #expect(pier.terminate() == 0)
        }

        /// Docker's own health checks: Swarm reports a task with a `HEALTHCHECK` as running only once it is
        /// healthy (and replaces it when it turns unhealthy); Pier routes running tasks only.
        @Test func dockerHealthChecksAreRespected() async throws {
            let sick = "pier-h-\(UInt32.random(in: 0...UInt32.max))"
            let well = "pier-w-\(UInt32.random(in: 0...UInt32.max))"
            defer { engine.removeService(sick); engine.removeService(well) }
            let pier = try PierProcess(["serve", "--docker-host", SwarmEngine.host, "--http", "127.0.0.1:0", "--no-access-log"])
            let port = try await pier.waitForPort()
            for (name, command) in [(sick, "exit 1"), (well, "exit 0")] {
                try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", name,
                                   "--network", SwarmEngine.network, "--publish", "mode=host,target=8080",
                                   "--health-cmd", command, "--health-interval", "1s", "--health-retries", "1", "--health-timeout", "1s",
                                   "--label", "com.docker.lb.hosts=\(name).test", "--label", "com.docker.lb.port=8080",
                                   SwarmEngine.image])
            }
            #expect(try await waitFor(seconds: 30) { try fetch(port, host: "\(well).test").status == 200 }, "the healthy service routes")
            // The failing one never does, though its container runs and its httpd would answer.
            for _ in 0..<10 {
                #expect(try fetch(port, host: "\(sick).test").status == 503)
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(pier.terminate() == 0)
        }

        /// Certificates named by labels are read from Pier's secrets folder (where Docker mounts the secrets
        /// attached to Pier's service; here a folder on the host, since Pier runs outside the swarm).
        @Test func tlsLabelsTerminateWithSecretsAndRedirectPlainHTTP() async throws {
            let name = "pier-s-\(UInt32.random(in: 0...UInt32.max))"
            defer { engine.removeService(name) }
            let pki = try TestPKI()
            defer { pki.remove() }
            let issued = try pki.issue("secrets/\(name).crt", names: ["\(name).test"])
            try FileManager.default.moveItem(atPath: issued.key, toPath: pki.path("secrets/\(name)-key"))
            let config = pki.path("pier.toml")
            try """
                [Entrypoints]
                HTTP = "127.0.0.1:0"
                HTTPS = "127.0.0.1:0"
                [Config]
                SecretsDirectory = "\(pki.path("secrets"))"
                """.write(toFile: config, atomically: true, encoding: .utf8)
            try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", name,
                               "--network", SwarmEngine.network, "--publish", "mode=host,target=8080",
                               "--label", "com.docker.lb.hosts=\(name).test", "--label", "com.docker.lb.port=8080",
                               "--label", "com.docker.lb.ssl_cert=\(name).crt.crt", "--label", "com.docker.lb.ssl_key=\(name)-key",
                               "--label", "com.docker.lb.ssl_only=true", SwarmEngine.image])
            let pier = try PierProcess(["serve", "--docker-host", SwarmEngine.host, "-c", config, "--https", "127.0.0.1:0", "--no-access-log"])
            let port = try await pier.waitForPort()
            let httpsPort = pier.httpsPort
            let served = try await waitFor(seconds: 20) {
                try curl(["-o", "/dev/null", "-w", "%{http_code}", "--cacert", pki.caPath, "--resolve", "\(name).test:\(httpsPort):127.0.0.1",
                          "https://\(name).test:\(httpsPort)/"]).out == "200"
            }
            #expect(served, "\(pier.output.suffix(2000))")
            let redirect = try curl(["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", "Host: \(name).test", "http://127.0.0.1:\(port)/x?y=1"])
            #expect(redirect.out == "301 https://\(name).test:\(httpsPort)/x?y=1")
            #expect(try pki.presented(port: httpsPort, serverName: "\(name).test").cn == "\(name).test")
            // A label naming a path instead of a secret is refused: labels must not make Pier read host files.
            try engine.docker(["service", "update", "--detach", "--label-add", "com.docker.lb.ssl_key=/etc/shadow", name])
            let refused = try await waitFor(seconds: 10) { pier.output.contains("\"/etc/shadow\" is a path; name a Docker secret instead") }
            #expect(refused, "\(pier.output.suffix(2000))")
            #expect(pier.terminate() == 0)
        }

        @Test func unlabelledServicesAreIgnoredAndBadLabelsReported() async throws {
            let good = "pier-g-\(UInt32.random(in: 0...UInt32.max))", bad = "pier-b-\(UInt32.random(in: 0...UInt32.max))"
            let plain = "pier-p-\(UInt32.random(in: 0...UInt32.max))"
            defer { [good, bad, plain].forEach(engine.removeService) }
            for (name, labels) in [(good, ["com.docker.lb.hosts=\(good).test", "com.docker.lb.port=8080"]),
                                   (bad, ["com.docker.lb.hosts=\(bad).test", "com.docker.lb.port=80x"]),
                                   (plain, [])] {
                try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", name,
                                   "--network", SwarmEngine.network, "--publish", "mode=host,target=8080"]
                                  + labels.flatMap { ["--label", $0] } + [SwarmEngine.image])
            }
            let pier = try PierProcess(["serve", "--docker-host", SwarmEngine.host, "--http", "127.0.0.1:0", "--no-access-log"])
            let port = try await pier.waitForPort()
            #expect(try await waitFor(seconds: 20) { try fetch(port, host: "\(good).test").status == 200 })
            #expect(try fetch(port, host: "\(bad).test").status == 503)
            #expect(pier.output.contains("service \"\(bad)\": com.docker.lb.port=\"80x\""))
            let routes = try run(pierBinary, ["routes", "--docker-host", SwarmEngine.host])
            #expect(routes.out.contains("\(plain): not routed: no com.docker.lb.* labels"), "\(routes.out)")
            #expect(routes.out.contains("\(bad): not routed: see its errors"))
            #expect(routes.out.contains("\(good): routed, 1 endpoint"))
            #expect(pier.terminate() == 0)
        }

        @Test func rollingUpdateStartFirstLosesNoRequest() async throws {
            let name = "pier-r-\(UInt32.random(in: 0...UInt32.max))"
            defer { engine.removeService(name) }
            try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", name, "--replicas", "2",
                               "--network", SwarmEngine.network, "--publish", "mode=host,target=8080",
                               "--env", "DRAIN=3", "--stop-grace-period", "10s",
                               "--label", "com.docker.lb.hosts=\(name).test", "--label", "com.docker.lb.port=8080",
                               SwarmEngine.image])
            let pier = try PierProcess(["serve", "--docker-host", SwarmEngine.host, "--http", "127.0.0.1:0", "--no-access-log"])
            let port = try await pier.waitForPort()
            #expect(try await waitFor(seconds: 30) { try tasksAnswering(port, host: "\(name).test", requests: 8) == 2 })
            let before = Set(try (0..<8).map { _ in try fetch(port, host: "\(name).test").body })

            let load = Task {
                var ok = 0, failures: [String] = []
                while !Task.isCancelled {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/")
                    request.headers.add(name: "Host", value: "\(name).test")
                    do {
                        let response = try await client.execute(request, timeout: .seconds(10))
                        let body = try await response.body.collect(upTo: 1 << 16)
                        if response.status == .ok { ok += 1 } else { failures.append("\(response.status.code) \(String(buffer: body))") }
                    } catch {
                        if Task.isCancelled { break }
                        failures.append("\(error)")
                    }
                }
                return (ok, failures)
            }
            try engine.docker(["service", "update", "--detach", "--update-order", "start-first", "--update-parallelism", "1",
                               "--env-add", "GENERATION=2", name])
            let completed = try await waitFor(seconds: 90) {
                try engine.docker(["service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", name])
                    .trimmingCharacters(in: .whitespacesAndNewlines) == "completed"
            }
            // Let the replaced tasks finish draining while the load goes on.
            try await Task.sleep(for: .seconds(4))
            load.cancel()
            let (ok, failures) = await load.value
            #expect(completed)
            let after = Set(try (0..<8).map { _ in try fetch(port, host: "\(name).test").body })
            #expect(after.isDisjoint(with: before), "the update did not replace the tasks")
            #expect(failures.isEmpty, "\(failures.count) failed: \(failures.prefix(5))\n\(pier.output)")
            #expect(ok > 50)
            print("swarm: rolling update start-first: \(ok) requests, \(failures.count) failed")
            #expect(pier.terminate() == 0)
        }

        /// Pier reaches the engine over TCP through a relay that the test cuts and restores: the engine and
        /// its tasks keep running (stopping dockerd here would take the host-mode port proxies with it), while
        /// Pier sees exactly what an unreachable engine looks like.
        @Test func engineOutageKeepsTheLastTableAndRecovers() async throws {
            let name = "pier-o-\(UInt32.random(in: 0...UInt32.max))"
            let later = "pier-l-\(UInt32.random(in: 0...UInt32.max))"
            defer { [name, later].forEach(engine.removeService) }
            try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", name,
                               "--network", SwarmEngine.network, "--publish", "mode=host,target=8080",
                               "--label", "com.docker.lb.hosts=\(name).test", "--label", "com.docker.lb.port=8080",
                               SwarmEngine.image])
            var relay = try EngineRelay()
            let pier = try PierProcess(["serve", "--docker-host", "tcp://127.0.0.1:\(relay.port)", "--http", "127.0.0.1:0",
                                        "--no-access-log", "--poll-interval", "500"])
            let port = try await pier.waitForPort()
            #expect(try await waitFor(seconds: 20) { try fetch(port, host: "\(name).test").status == 200 })

            relay.stop()
            #expect(try await waitFor(seconds: 5) { pier.output.contains("Docker Engine unreachable") })
            for _ in 0..<10 { #expect(try fetch(port, host: "\(name).test").status == 200, "the last table must stay live") }

            // A change made while Pier cannot see the engine is picked up once it can.
            try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", later,
                               "--network", SwarmEngine.network, "--publish", "mode=host,target=8080",
                               "--label", "com.docker.lb.hosts=\(later).test", "--label", "com.docker.lb.port=8080",
                               SwarmEngine.image])
            try await Task.sleep(for: .seconds(3))
            #expect(try fetch(port, host: "\(later).test").status == 503)
            relay = try EngineRelay(port: relay.port)
            #expect(try await waitFor(seconds: 20) { try fetch(port, host: "\(later).test").status == 200 })
            #expect(pier.output.contains("Docker Engine reachable"))
            relay.stop()
            #expect(pier.terminate() == 0)
        }
    }
}

/// A TCP relay to the engine's unix socket (socat), which a test can cut and restore.
struct EngineRelay {
    let port: Int
    private let process: Process

    init(port: Int? = nil) throws {
        let chosen = try port ?? freePort()
        let relay = Process()
        relay.executableURL = URL(fileURLWithPath: "/usr/bin/socat")
        let socket = SwarmEngine.host.replacingOccurrences(of: "unix://", with: "")
        relay.arguments = ["TCP-LISTEN:\(chosen),bind=127.0.0.1,fork,reuseaddr", "UNIX-CONNECT:\(socket)"]
        try spawning.withLockedValue { _ in try relay.run() }
        process = relay
        self.port = chosen
        // Wait until it listens.
        for _ in 0..<50 where (try? rawExchange(port: chosen, "GET /_ping HTTP/1.0\r\n\r\n", timeout: 1))?.contains("OK") != true {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Kills the relay and every connection it forwards.
    func stop() {
        _ = try? run("/usr/bin/pkill", ["-9", "-f", "TCP-LISTEN:\(port),"])
        process.waitUntilExit()
    }
}

/// A port nothing listens on right now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// The engine `scripts/swarm-env` started, and the docker CLI against it.
struct SwarmEngine {
    static let host = ProcessInfo.processInfo.environment["PIER_TEST_DOCKER_HOST"] ?? "unix:///tmp/pier-swarm/docker.sock"
    static let image = "pier-test/httpd:1"
    static let network = "pier-test-net"
    static let directory = ProcessInfo.processInfo.environment["PIER_SWARM_DIR"] ?? "/tmp/pier-swarm"

    static let available: Bool = {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/docker") else { return false }
        guard let r = try? run("/usr/bin/docker", ["-H", host, "info", "--format", "{{.Swarm.LocalNodeState}}"]),
            r.status == 0, r.out.trimmingCharacters(in: .whitespacesAndNewlines) == "active"
        else { return false }
        // The overlay network the tests attach services to (explicit subnet, as this machine needs).
        _ = try? run("/usr/bin/docker", ["-H", host, "network", "create", "-d", "overlay", "--attachable",
                                         "--subnet", "10.201.0.0/24", network])
        return true
    }()

    @discardableResult
    func docker(_ arguments: [String]) throws -> String {
        let r = try run("/usr/bin/docker", ["-H", Self.host] + arguments, timeout: 120)
        guard r.status == 0 else { throw TestFailure("docker \(arguments.joined(separator: " ")): \(r.err)") }
        return r.out
    }

    func removeService(_ name: String) {
        _ = try? run("/usr/bin/docker", ["-H", Self.host, "service", "rm", name])
    }
}

/// One request with curl: status and body.
func fetch(_ port: Int, host: String, path: String = "/") throws -> (status: Int, body: String) {
    let r = try curl(["--max-time", "5", "-H", "Host: \(host)", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"])
    let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false)
    return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
}

/// How many distinct tasks (host names) answered `requests` requests, or 0 when any request failed.
func tasksAnswering(_ port: Int, host: String, requests: Int) throws -> Int {
    var names: Set<String> = []
    for _ in 0..<requests {
        let reply = try fetch(port, host: host)
        guard reply.status == 200 else { return 0 }
        names.insert(reply.body)
    }
    return names.count
}

/// Polls `condition` every 100 ms until it holds or `seconds` pass.
func waitFor(seconds: Int, _ condition: () throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if (try? condition()) == true { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return false
}
