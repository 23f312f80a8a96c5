import Foundation
import NIOConcurrencyHelpers
import Testing

extension EndToEnd {
    /// deploy/pier-stack.yml, unchanged, on the private engine with the image `pier:test`: controllers on the
    /// manager with the socket, two proxies without, credentials from `pier ca init --docker`. One deployment for
    /// every case (deploying takes seconds); the cases run in order on it.
    @Suite(.serialized, .enabled(if: PierImage.available || PierImage.required,
                                 "needs the image pier:test (scripts/image --tar-only, then scripts/swarm-env start) and a Docker Engine in Swarm mode"))
    struct StackTests {
        let engine = SwarmEngine()

        /// Requests sent in a loop to every proxy port until stopped; counts failures per port.
        final class Load: Sendable {
            let failures = NIOLockedValueBox<[Int: [String]]>([:])
            /// When each port first failed.
            let firstFailure = NIOLockedValueBox<[Int: Date]>([:])
            let requests = NIOLockedValueBox(0)
            let running = NIOLockedValueBox(true)

            /// `accepted`: the statuses that are not failures.
            init(ports: [Int], host: String, seconds: Double = 60, accepted: Set<Int> = [200]) {
                let failures = self.failures, requests = self.requests, running = self.running, firstFailure = self.firstFailure
                for port in ports {
                    let thread = Thread {
                        // Bounded: at most `seconds` of requests, whatever the test does.
                        let deadline = Date().addingTimeInterval(seconds)
                        while running.withLockedValue({ $0 }), Date() < deadline {
                            let reply = try? fetch(port, host: host)
                            requests.withLockedValue { $0 += 1 }
                            if !accepted.contains(reply?.status ?? 0) {
                                failures.withLockedValue { $0[port, default: []].append("\(reply?.status ?? 0) \(reply?.body.prefix(80) ?? "")") }
                                firstFailure.withLockedValue { if $0[port] == nil { $0[port] = Date() } }
                            }
                            Thread.sleep(forTimeInterval: 0.01)
                        }
                    }
                    thread.start()
                }
            }

            func stop() async -> (requests: Int, failures: [Int: [String]]) {
                running.withLockedValue { $0 = false }
                try? await Task.sleep(for: .milliseconds(200))
                return (requests.withLockedValue { $0 }, failures.withLockedValue { $0 })
            }
        }

        /// Deploys the stack; its control network gets a subnet of its own (a network left by a killed run keeps
        /// its subnet until removed, and tasks of a new network on the same subnet never start).
        func deploy(_ stack: String, subnet: Int, controllers: Int = 1) throws -> (status: Int32, out: String) {
            try engine.deployStack(stack, [
                "PIER_CREDENTIALS": stack, "PIER_IMAGE": PierImage.name, "PIER_CONTROL_SUBNET": "10.206.\(subnet).0/24",
                "PIER_HTTP_PORT": "0", "PIER_HTTPS_PORT": "0", "PIER_PROXY_CONSTRAINT": "node.role == manager",
                "PIER_PROXY_REPLICAS": "2", "PIER_CONTROLLER_REPLICAS": "\(controllers)",
                "PIER_DOCKER_SOCKET": SwarmEngine.directory + "/docker.sock",
            ])
        }

        /// The running tasks of `service` with their published host port (first entry) and container.
        func tasks(_ service: String) throws -> [(task: String, port: Int?, container: String)] {
            let out = try engine.docker(["service", "ps", "--no-trunc", "--filter", "desired-state=running",
                                         "--format", "{{.ID}} {{.CurrentState}}", service])
            return try out.split(separator: "\n").filter { $0.split(separator: " ").dropFirst().first == "Running" }.map { line in
                let id = String(line.split(separator: " ")[0])
                return (id, try? httpPort(task: id), try engine.container(task: id))
            }
        }

        /// The host port of a task's HTTP entrypoint (target 8080): the first entry for that target only (docs/docker.md).
        func httpPort(task: String, target: Int = 8080) throws -> Int {
            let ports = try engine.docker(["inspect", "--format", "{{range .Status.PortStatus.Ports}}{{.TargetPort}}:{{.PublishedPort}} {{end}}", task])
            guard let entry = ports.split(separator: " ").first(where: { $0.hasPrefix("\(target):") }),
                  let port = Int(entry.split(separator: ":")[1])
            else { throw TestFailure("task \(task) publishes no port for \(target): \(ports)") }
            return port
        }

        /// A container's log (`docker service logs` can hang on docker 20.10 once a task of the service died).
        func logs(_ container: String) -> String {
            guard let r = try? run("/usr/bin/docker", ["-H", SwarmEngine.host, "logs", container], timeout: 20) else { return "" }
            return r.out + r.err
        }

        /// The logs of every running task of `service`.
        func logs(service: String) -> String {
            ((try? tasks(service)) ?? []).map { logs($0.container) }.joined(separator: "\n")
        }

        func runningProxies(_ stack: String, count: Int) async throws -> [(task: String, port: Int?, container: String)] {
            var found: [(task: String, port: Int?, container: String)] = []
            _ = try await waitFor(seconds: 60) {
                found = try tasks("\(stack)_proxy")
                return found.count == count && found.allSatisfy { $0.port != nil }
            }
            guard found.count == count else { throw TestFailure("\(count) proxies never ran: \(found) \(logs(service: "\(stack)_proxy"))") }
            return found
        }

        @Test func theStackRoutesThroughEveryProxyAndSurvivesItsController() async throws {
            guard PierImage.ready() else { return }
            let begin = ContinuousClock.now
            // Progress on stderr, unbuffered: a slow engine shows where it spends its time.
            func step(_ what: String) { FileHandle.standardError.write(Data("stack test +\(ContinuousClock.now - begin): \(what)\n".utf8)) }
            let id = UInt32.random(in: 0...UInt32.max)
            let stack = "pier-st-\(id)"
            let backend = "\(stack)-app", later = "\(stack)-later", secure = "\(stack)-secure", elsewhere = "\(stack)-elsewhere"
            let apps = "\(stack)-apps"
            let certificateSecrets = ["\(stack)-site.crt", "\(stack)-site.key"]
            let secrets = ["pier-ca.crt", "pier-controller.crt", "pier-controller.key", "pier-proxy.crt", "pier-proxy.key"].map { "\($0)-\(stack)" }
            let caDirectory = try temporaryDirectory()
            defer {
                engine.removeService(backend)
                engine.removeService(later)
                engine.removeService(secure)
                engine.removeService(elsewhere)
                _ = try? engine.docker(["stack", "rm", stack])
                engine.removeNetwork(apps)
                engine.removeNetwork("\(stack)_control")
                // Secrets can go once the stack's tasks are gone.
                for _ in 0..<30 {
                    if (try? engine.docker(["secret", "rm"] + secrets + certificateSecrets)) != nil { break }
                    usleep(500_000)
                }
                // Killed tasks leave their containers behind, holding the state volume.
                for _ in 0..<30 {
                    let holders = (try? engine.docker(["ps", "-aq", "--filter", "volume=\(stack)_proxy-state"])) ?? ""
                    for container in holders.split(separator: "\n") { _ = try? engine.docker(["rm", "-f", String(container)]) }
                    if (try? engine.docker(["volume", "rm", "\(stack)_proxy-state"])) != nil { break }
                    usleep(500_000)
                }
                try? FileManager.default.removeItem(at: caDirectory)
            }
            // Credentials: the five secrets, made by Pier itself.
            let ca = try run(pierBinary, ["ca", "init", "--out", caDirectory.appendingPathComponent("ca").path, "--docker",
                                          "--docker-host", SwarmEngine.host, "--suffix", stack])
            #expect(ca.status == 0, "\(ca)")
            step("credentials created")
            let deployed = try deploy(stack, subnet: Int(id % 250), controllers: 2)
            #expect(deployed.status == 0, "\(deployed.out)")

            // A backend on the control network (the controller does not manage the proxies' networks yet: a
            // backend must be on a network the proxies are on).
            let network = "\(stack)_control"
            try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", backend, "--network", network,
                               "--label", "com.docker.lb.hosts=\(stack).test", "--label", "com.docker.lb.port=8080",
                               "--replicas", "2", SwarmEngine.image])
            step("deployed; backend created")
            let proxies = try await runningProxies(stack, count: 2)
            var ports = proxies.compactMap(\.port)
            for port in ports {
                #expect(try await waitFor(seconds: 60) { try fetch(port, host: "\(stack).test").status == 200 },
                        "proxy on \(port): \(logs(service: "\(stack)_proxy")) controller: \(logs(service: "\(stack)_controller"))")
            }

            step("proxies answer")
            // Security: no socket, no Docker credentials in a proxy; only the three pier-* secrets.
            for proxy in proxies {
                let mounts = try engine.docker(["inspect", "--format", "{{range .Mounts}}{{.Source}} {{.Destination}};{{end}}", proxy.container])
                #expect(!mounts.contains("docker.sock"), "\(mounts)")
                let environment = try engine.docker(["inspect", "--format", "{{range .Config.Env}}{{.}};{{end}}", proxy.container])
                #expect(!environment.contains("DOCKER_"), "\(environment)")
                let files = try run("/usr/bin/docker", ["-H", SwarmEngine.host, "exec", proxy.container, "/usr/local/bin/pier", "health"])
                #expect(files.status == 0, "\(files)")
            }

            step("security checked")
            // A label change reaches both proxies.
            let started = ContinuousClock.now
            try engine.docker(["service", "update", "--detach", "--label-add", "com.docker.lb.hosts=\(stack)-moved.test", backend])
            for port in ports {
                #expect(try await waitFor(seconds: 20) { try fetch(port, host: "\(stack)-moved.test").status == 200 })
            }
            print("stack: label change → traffic on 2 proxies in \(ContinuousClock.now - started) (includes the docker CLI call)")

            step("label change seen")
            // A certificate secret reaches the proxies without restarting them: the controller attaches it to its
            // own service (whose tasks roll, start-first, under load), ships it over the channel, and the same
            // proxy tasks serve it. Nobody runs `docker service update --secret-add`.
            let pki = try TestPKI()
            let site = try pki.issue("site", names: ["\(secure).test"])
            try engine.docker(["secret", "create", certificateSecrets[0], site.certificate])
            try engine.docker(["secret", "create", certificateSecrets[1], site.key])
            let proxyTasks = Set(proxies.map(\.task))
            let httpsPorts = try proxies.map { try httpPort(task: $0.task, target: 8443) }
            let rolling = Load(ports: ports, host: "\(stack)-moved.test")
            try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", secure, "--network", network,
                               "--label", "com.docker.lb.hosts=\(secure).test", "--label", "com.docker.lb.port=8080",
                               "--label", "com.docker.lb.ssl_cert=\(certificateSecrets[0])",
                               "--label", "com.docker.lb.ssl_key=\(certificateSecrets[1])", SwarmEngine.image])
            #expect(try await waitFor(seconds: 30) {
                try engine.docker(["service", "inspect", "--format", "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}} {{end}}",
                                   "\(stack)_controller"]).contains(certificateSecrets[1])
            }, "the controller did not attach the secrets: \(logs(service: "\(stack)_controller"))")
            for port in httpsPorts {
                #expect(try await waitFor(seconds: 90) { try pki.presented(port: port, serverName: "\(secure).test").cn == "\(secure).test" },
                        "\(logs(service: "\(stack)_controller"))")
            }
            // Until the controllers' rolling update is over.
            _ = try await waitFor(seconds: 60) {
                try engine.docker(["service", "inspect", "--format", "{{.UpdateStatus.State}}", "\(stack)_controller"])
                    .trimmingCharacters(in: .whitespacesAndNewlines) == "completed"
            }
            let (rolled, rollFailures) = await rolling.stop()
            print("stack: controllers rolled for a new secret: \(rolled) requests, \(rollFailures.values.map(\.count).reduce(0, +)) failed")
            #expect(rollFailures.isEmpty, "\(rollFailures)")
            #expect(Set(try tasks("\(stack)_proxy").map(\.task)) == proxyTasks, "the proxies were not restarted")
            step("certificate served without restarting proxies")

            // Two controllers: a proxy whose controller goes moves to the other and reloads nothing.
            // Counted, not cut: `docker logs` gives stdout (access log) and stderr apart.
            func count(_ text: String, in container: String) -> Int { logs(container).components(separatedBy: text).count - 1 }
            let unchangedBefore = proxies.map { count("snapshot unchanged", in: $0.container) }
            let updatesBefore = proxies.map { count("routes updated", in: $0.container) }
            let pair = try tasks("\(stack)_controller")
            #expect(pair.count == 2)
            _ = try? engine.docker(["kill", pair[0].container])
            try await Task.sleep(for: .seconds(2))
            _ = try await waitFor(seconds: 30) { try tasks("\(stack)_controller").count == 2 }
            _ = try? engine.docker(["kill", pair[1].container])
            for (index, proxy) in proxies.enumerated() {
                #expect(try await waitFor(seconds: 30) { count("snapshot unchanged", in: proxy.container) > unchangedBefore[index] },
                        "\(logs(proxy.container).suffix(1500))")
                #expect(count("routes updated", in: proxy.container) == updatesBefore[index])
            }
            step("proxies switched controllers without a reload")

            // Proxies scaled 2 → 3 → 2 under load: the proxies that stay fail nothing.
            try engine.docker(["service", "scale", "--detach", "\(stack)_proxy=3"])
            let three = try await runningProxies(stack, count: 3)
            for proxy in three { #expect(try await waitFor(seconds: 30) { try fetch(proxy.port!, host: "\(stack)-moved.test").status == 200 }) }
            let scaling = Load(ports: three.compactMap(\.port), host: "\(stack)-moved.test")
            try engine.docker(["service", "scale", "--detach", "\(stack)_proxy=2"])
            _ = try await waitFor(seconds: 60) { try tasks("\(stack)_proxy").count == 2 }
            let staying = Set(try tasks("\(stack)_proxy").compactMap(\.port))
            try await Task.sleep(for: .seconds(1))
            let (scaled, scaleFailures) = await scaling.stop()
            print("stack: proxies scaled 3 → 2: \(scaled) requests, failures on staying proxies: \(scaleFailures.filter { staying.contains($0.key) }.values.map(\.count).reduce(0, +)), on the removed one: \(scaleFailures.filter { !staying.contains($0.key) }.values.map(\.count).reduce(0, +))")
            #expect(staying.count == 2)
            #expect(scaleFailures.filter { staying.contains($0.key) }.isEmpty, "\(scaleFailures)")
            step("scaled 2 → 3 → 2")

            // A backend on a network the proxies are not on: the controller adds the network to the proxy service,
            // Swarm rolls the proxies (parallelism 1, stop-first) under load. A proxy fails requests only once Swarm
            // is replacing it, never while the other one is; the new service is held back (503, never a 502 from
            // a proxy that cannot reach it) until every proxy is on its network.
            try engine.docker(["network", "create", "--driver", "overlay", "--subnet", "10.207.\(id % 250).0/24", apps])
            let old = try tasks("\(stack)_proxy")
            let updating = Load(ports: old.compactMap(\.port), host: "\(stack)-moved.test", seconds: 150)
            // Held back, the host has no route yet: 503 "no service is routed for this host". A route to a network the
            // proxy is not on would be a 502 (connect failure) or 504.
            let early = Load(ports: old.compactMap(\.port), host: "\(elsewhere).test", seconds: 150, accepted: [200, 503])
            let added = ContinuousClock.now
            try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", elsewhere, "--network", apps,
                               "--label", "com.docker.lb.hosts=\(elsewhere).test", "--label", "com.docker.lb.port=8080", SwarmEngine.image])
            var stopping: [String: Date] = [:]
            func rollCompleted(_ service: String) throws -> Bool {
                let states = try engine.docker(["service", "ps", "--no-trunc", "--format", "{{.ID}} {{.DesiredState}}", service])
                for line in states.split(separator: "\n") {
                    let fields = line.split(separator: " ")
                    if fields.count == 2, fields[1] == "Shutdown", stopping[String(fields[0])] == nil { stopping[String(fields[0])] = Date() }
                }
                return try engine.docker(["service", "inspect", "--format", "{{.UpdateStatus.State}}", service])
                    .trimmingCharacters(in: .whitespacesAndNewlines) == "completed"
            }
            #expect(try await waitFor(seconds: 30) {
                try engine.docker(["service", "inspect", "--format", "{{range .Spec.TaskTemplate.Networks}}{{.Target}} {{end}}", "\(stack)_proxy"])
                    .contains(try engine.docker(["network", "inspect", "--format", "{{.Id}}", apps]).trimmingCharacters(in: .whitespacesAndNewlines))
            }, "the controller did not add \(apps) to the proxies: \(logs(service: "\(stack)_controller"))")
            // Routed through every running proxy (ports change as the proxies roll), then the roll completes.
            var routedAfter: Duration?
            // Swarm paces the roll: per task a 5 s shutdown delay, the drain, a start, health checks every 5 s and
            // a 5 s update delay. Measured 62 s alone, 154 s within the full suite on this 2-core machine, and
            // 244 s in a fresh-clone CI run where the engine also failed to start one task once and retried it.
            let completed = try await waitFor(seconds: 420) {
                if routedAfter == nil, let running = try? tasks("\(stack)_proxy"), running.count == 2,
                   running.allSatisfy({ $0.port.map { (try? fetch($0, host: "\(elsewhere).test").status) == 200 } ?? false }) {
                    routedAfter = ContinuousClock.now - added
                }
                return try rollCompleted("\(stack)_proxy") && routedAfter != nil
            }
            #expect(completed, "the proxies' update: \((try? engine.docker(["service", "inspect", "--format", "{{json .UpdateStatus}}", "\(stack)_proxy"])) ?? "") \((try? engine.docker(["service", "ps", "\(stack)_proxy"])) ?? "") controller: \(logs(service: "\(stack)_controller").split(separator: "\n").filter { $0.contains("service update") }.joined(separator: "\n"))")
            let (updated, _) = await updating.stop()
            let (_, earlyFailures) = await early.stop()
            let firsts = updating.firstFailure.withLockedValue { $0 }
            for task in old {
                guard let port = task.port, let failed = firsts[port] else { continue }
                // Polled every ~0.1 s plus a docker call: allow a second of slack.
                let stopped = try #require(stopping[task.task], "task \(task.task) failed requests but was never stopped")
                #expect(failed >= stopped.addingTimeInterval(-1), "port \(port) failed at \(failed), its task stopping from \(stopped)")
            }
            #expect(!earlyFailures.values.joined().contains { $0.hasPrefix("502") || $0.hasPrefix("504") },
                    "a proxy routed to a network it was not on: \(earlyFailures)")
            let joined = try await runningProxies(stack, count: 2)
            for proxy in joined {
                #expect(try await waitFor(seconds: 30) { try fetch(proxy.port!, host: "\(elsewhere).test").status == 200 },
                        "\(logs(proxy.container).suffix(1500))")
            }
            print("stack: a service on a new network routed through both proxies \(routedAfter.map { "\($0)" } ?? "never") after it was created, the proxies' rolling update completed after \(ContinuousClock.now - added) (\(updated) requests, every failure after its own task was stopping)")
            step("network added to the proxies")

            // The service goes: the controller detaches the network it added (after 10 s unused), the proxies roll,
            // and the network can be removed.
            engine.removeService(elsewhere)
            let removed = ContinuousClock.now
            #expect(try await waitFor(seconds: 150) {
                (try? engine.docker(["network", "rm", apps])) != nil
            }, "\(apps) still in use: \(logs(service: "\(stack)_controller"))")
            print("stack: network removable \(ContinuousClock.now - removed) after its last service went")
            #expect(try await waitFor(seconds: 150) { try rollCompleted("\(stack)_proxy") })
            step("network detached and removed")
            let survivors = try await runningProxies(stack, count: 2)
            ports = survivors.compactMap(\.port)

            // The controller killed under load: nothing fails; a service created meanwhile is routed once Swarm
            // has restarted it.
            let load = Load(ports: ports, host: "\(stack)-moved.test")
            try await Task.sleep(for: .milliseconds(500))
            let killed = try tasks("\(stack)_controller")
            for controller in killed {
                _ = try? engine.docker(["kill", controller.container])
            }
            try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", later, "--network", network,
                               "--label", "com.docker.lb.hosts=\(later).test", "--label", "com.docker.lb.port=8080", SwarmEngine.image])
            for port in ports {
                #expect(try await waitFor(seconds: 60) { try fetch(port, host: "\(later).test").status == 200 },
                        "\(logs(service: "\(stack)_controller"))")
            }
            let (requests, failures) = await load.stop()
            print("stack: controller killed under load: \(requests) requests, \(failures.values.map(\.count).reduce(0, +)) failed")
            #expect(requests > 100)
            #expect(failures.isEmpty, "\(failures)")

            step("controller kill done")
            // The controllers' logs, before they go (their containers stay until the stack is removed).
            let controllers = killed.map(\.container) + (try tasks("\(stack)_controller")).map(\.container)
            // A proxy restarted while no controller runs serves its persisted table.
            try engine.docker(["service", "scale", "--detach", "\(stack)_controller=0"])
            _ = try await waitFor(seconds: 30) { try tasks("\(stack)_controller").isEmpty }
            let victim = survivors[0]
            _ = try? engine.docker(["kill", victim.container])
            var replacement: (task: String, port: Int?, container: String)?
            _ = try await waitFor(seconds: 60) {
                replacement = try tasks("\(stack)_proxy").first { $0.task != survivors[0].task && $0.task != survivors[1].task && $0.port != nil }
                return replacement != nil
            }
            let port = try #require(replacement?.port, "no replacement proxy: \(logs(service: "\(stack)_proxy"))")
            #expect(try await waitFor(seconds: 30) { try fetch(port, host: "\(later).test").status == 200 },
                    "\(logs(service: "\(stack)_proxy"))")
            let replacementLog = logs(try #require(replacement).container)
            #expect(replacementLog.contains("serving persisted table"), "\(replacementLog)")

            step("persisted table served")
            // No key material in any log.
            let all = ([survivors[1].container, try #require(replacement).container] + controllers).map { logs($0) }.joined(separator: "\n")
            #expect(all.contains("snapshot applied"))
            #expect(!all.contains("PRIVATE KEY"))
        }
    }
}
