import Foundation
import Testing

extension EndToEnd {
    /// The image `scripts/image` makes (`pier:test`, imported by `scripts/swarm-env start` from the tar of
    /// `scripts/image --tar-only`) as a Swarm service on the private engine, with today's `pier serve`: the fully
    /// static binary must resolve Swarm's DNS names (127.0.0.11) although the image holds no NSS library, and run
    /// as the unprivileged user in an image without a shell.
    /// Skipped where the image or the engine is missing, unless PIER_TEST_REQUIRE_IMAGE=1 (CI), which fails.
    @Suite(.serialized, .enabled(if: PierImage.available || PierImage.required,
                                 "needs the image pier:test (scripts/image --tar-only, then scripts/swarm-env start) and a Docker Engine in Swarm mode"))
    struct ImageTests {
        let engine = SwarmEngine()

        @Test func staticImageServesASwarmServiceByItsDNSNameAsUser10001() async throws {
            guard PierImage.ready() else { return }
            let started = ContinuousClock.now
            let id = UInt32.random(in: 0...UInt32.max)
            let backend = "pier-ib-\(id)", proxy = "pier-ip-\(id)", network = "pier-img-\(id)", config = "pier-img-\(id)"
            defer {
                engine.removeService(proxy)
                engine.removeService(backend)
                _ = try? engine.docker(["config", "rm", config])
                engine.removeNetwork(network)
            }
            // Not attachable: only services join it. The subnet is this suite's own (SwarmTests use 10.201,
            // the stack's control network 10.203).
            try engine.docker(["network", "create", "-d", "overlay", "--subnet", "10.204.0.0/24", network])
            try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", backend,
                               "--network", network, SwarmEngine.image])
            // The endpoint is a name only the Swarm's embedded DNS knows. `tasks.<service>` gives the task
            // addresses; the bare service name would give its VIP, which this machine cannot route (no IPVS).
            let file = try temporaryDirectory().appendingPathComponent("pier.toml")
            defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
            try """
                [Entrypoints]
                HTTP = "0.0.0.0:8080"
                [[Services]]
                Name = "backend"
                Endpoints = ["tasks.\(backend):8080"]
                Labels = { "com.docker.lb.hosts" = "image.test" }
                """.write(to: file, atomically: true, encoding: .utf8)
            try engine.docker(["config", "create", config, file.path])
            try engine.docker(["service", "create", "--detach", "--no-resolve-image", "--name", proxy,
                               "--network", network, "--config", "source=\(config),target=/pier.toml,mode=0444",
                               "--publish", "mode=host,target=8080", PierImage.name,
                               "serve", "--config", "/pier.toml", "--no-access-log"])

            let backendTask = try await engine.runningTask(of: backend)
            let proxyTask = try await engine.runningTask(of: proxy)
            let port = try engine.publishedPort(task: proxyTask)
            let answered = try await waitFor(seconds: 20) { try fetch(port, host: "image.test").status == 200 }
            let reply = try fetch(port, host: "image.test")
            // The backend answers with its host name, which Docker sets to its container ID's first 12 digits.
            let backendContainer = try engine.container(task: backendTask)
            #expect(answered && reply.body.trimmingCharacters(in: .whitespacesAndNewlines) == String(backendContainer.prefix(12)),
                    "\(reply) via 127.0.0.1:\(port); logs: \(engine.serviceLogs(proxy))")

            // Unprivileged: the image's user, and the kernel's view of the running process.
            let container = try engine.container(task: proxyTask)
            let user = try engine.docker(["inspect", "--format", "{{.Config.User}}", container])
            #expect(user.trimmingCharacters(in: .whitespacesAndNewlines) == "10001:10001")
            let pid = try engine.docker(["inspect", "--format", "{{.State.Pid}}", container]).trimmingCharacters(in: .whitespacesAndNewlines)
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            #expect(status.split(separator: "\n").contains { $0.hasPrefix("Uid:") && $0.split(separator: "\t").dropFirst().allSatisfy { $0 == "10001" } },
                    "\(status.split(separator: "\n").filter { $0.hasPrefix("Uid:") })")

            // The binary runs by itself in the container; there is no shell to run anything else.
            let version = try run("/usr/bin/docker", ["-H", SwarmEngine.host, "exec", container, "/usr/local/bin/pier", "--version"])
            #expect(version.status == 0 && !version.out.isEmpty, "\(version)")
            let shell = try run("/usr/bin/docker", ["-H", SwarmEngine.host, "exec", container, "/bin/sh", "-c", "true"])
            #expect(shell.status != 0, "\(shell)")
            print("image: pier:test served tasks.\(backend) in \(ContinuousClock.now - started) (network, backend, config and Pier created, answered, checked)")
        }

        /// The image's one layer holds exactly the rootfs of deploy/rootfs plus the binary, with the owners and
        /// modes the state volume and /tmp need: no shell, no busybox, no library.
        @Test func imageHoldsOnlyTheBinaryAndItsRootfs() throws {
            guard PierImage.ready() else { return }
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            try engine.docker(["image", "save", "-o", dir.appendingPathComponent("image.tar").path, PierImage.name])
            let unpacked = try run("/bin/tar", ["-xf", dir.appendingPathComponent("image.tar").path, "-C", dir.path])
            #expect(unpacked.status == 0, "\(unpacked.err)")
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
            let layers = ((manifest as? [[String: Any]])?.first?["Layers"] as? [String]) ?? []
            #expect(layers.count == 1, "\(layers)")
            let listing = try run("/bin/tar", ["-tvf", dir.appendingPathComponent(layers.first ?? "none").path, "--numeric-owner"])
            // "drwx------ 10001/10001 0 2026-… ./var/lib/pier/" → (mode, owner, path)
            let entries = listing.out.split(separator: "\n").map { line -> (String, String, String) in
                let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                return (fields.first ?? "", fields.count > 1 ? fields[1] : "", fields.last.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "")
            }
            let paths = Set(entries.map { $0.2 })
            #expect(paths == [".", "./etc", "./etc/group", "./etc/nsswitch.conf", "./etc/passwd", "./tmp", "./usr", "./usr/local",
                              "./usr/local/bin", "./usr/local/bin/pier", "./var", "./var/lib", "./var/lib/pier"], "\(listing.out)")
            let byPath = Dictionary(entries.map { ($0.2, ($0.0, $0.1)) }, uniquingKeysWith: { first, _ in first })
            #expect(byPath["./var/lib/pier"].map { $0 == ("drwx------", "10001/10001") } == true, "\(String(describing: byPath["./var/lib/pier"]))")
            #expect(byPath["./tmp"].map { $0 == ("drwxrwxrwt", "0/0") } == true, "\(String(describing: byPath["./tmp"]))")
            #expect(byPath["."].map { $0 == ("drwxr-xr-x", "0/0") } == true, "\(String(describing: byPath["."]))")
            #expect(byPath["./usr/local/bin/pier"].map { $0 == ("-rwxr-xr-x", "0/0") } == true)
        }

        /// deploy/pier-stack.yml parses and interpolates on the engine: with credentials that do not exist, the
        /// deploy gets as far as a service and names a secret that PIER_CREDENTIALS made.
        @Test func stackFileParsesAndNamesItsSecrets() throws {
            guard PierImage.ready() else { return }
            let stack = "pier-sf-\(UInt32.random(in: 0...UInt32.max))"
            defer {
                _ = try? engine.docker(["stack", "rm", stack])
                engine.removeNetwork("\(stack)_control")
            }
            let (status, text) = try engine.deployStack(stack, [
                "PIER_CREDENTIALS": stack, "PIER_IMAGE": PierImage.name, "PIER_CONTROL_SUBNET": "10.205.0.0/24",
                "PIER_HTTP_PORT": "0", "PIER_HTTPS_PORT": "0"])
            #expect(status != 0)
            #expect(text.contains("Creating network \(stack)_control"), "\(text)")
            // Which service and secret come first varies (Go map order); each is one of the five the stack names.
            #expect(text.range(of: "secret not found: pier-(ca|controller|proxy)\\.(crt|key)-\(stack)\n", options: .regularExpression) != nil,
                    "\(text)")
        }

        /// The stack mounts a named volume at /var/lib/pier for the proxy's state; Docker gives a new volume the
        /// owner and mode of the image's folder, so the unprivileged proxy can write there.
        @Test func newStateVolumeBelongsToPier() throws {
            guard PierImage.ready() else { return }
            let volume = "pier-state-\(UInt32.random(in: 0...UInt32.max))"
            defer { _ = try? engine.docker(["volume", "rm", volume]) }
            let version = try engine.docker(["run", "--pull", "never", "--rm", "--network", "none",
                                             "-v", "\(volume):/var/lib/pier", PierImage.name, "version"])
            #expect(version.hasPrefix("pier/"), "\(version)")
            let mountpoint = try engine.docker(["volume", "inspect", "--format", "{{.Mountpoint}}", volume])
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let attributes = try FileManager.default.attributesOfItem(atPath: mountpoint)
            let number = { (key: FileAttributeKey) in (attributes[key] as? NSNumber)?.intValue }
            #expect(number(.ownerAccountID) == 10001 && number(.groupOwnerAccountID) == 10001, "\(attributes)")
            #expect(number(.posixPermissions) == 0o700, "\(attributes)")
        }
    }
}

/// The image under test and whether the engine holds it.
enum PierImage {
    static let name = "pier:test"
    static let required = ProcessInfo.processInfo.environment["PIER_TEST_REQUIRE_IMAGE"] == "1"

    /// Whether a test can run; where it cannot, the suite runs only because PIER_TEST_REQUIRE_IMAGE=1, so say why.
    static func ready() -> Bool {
        if !available {
            Issue.record("PIER_TEST_REQUIRE_IMAGE=1, but no Docker Engine in Swarm mode answers at \(SwarmEngine.host), or it holds no image \(name)")
        }
        return available
    }
    static let available: Bool = {
        guard SwarmEngine.available else { return false }
        return (try? run("/usr/bin/docker", ["-H", SwarmEngine.host, "image", "inspect", "--format", "{{.Id}}", name]))?.status == 0
    }()
}

extension SwarmEngine {
    /// `docker stack deploy` of deploy/pier-stack.yml as it is, with `environment` for its variables.
    func deployStack(_ stack: String, _ environment: [String: String]) throws -> (status: Int32, out: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/docker")
        process.arguments = ["-H", Self.host, "stack", "deploy", "--resolve-image", "never",
                             "-c", Packaging.root.appendingPathComponent("deploy/pier-stack.yml").path, stack]
        process.environment = ProcessInfo.processInfo.environment.merging(environment, uniquingKeysWith: { _, new in new })
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try spawning.withLockedValue { _ in try process.run() }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    /// The ID of a running task of `service`, once it runs (tasks start in 1–2.5 s here).
    func runningTask(of service: String) async throws -> String {
        var last = ""
        let running = try await waitFor(seconds: 30) {
            last = try docker(["service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "{{.ID}} {{.CurrentState}}", service])
            return last.split(separator: "\n").contains { $0.split(separator: " ").dropFirst().first == "Running" }
        }
        guard running, let line = last.split(separator: "\n").first(where: { $0.split(separator: " ").dropFirst().first == "Running" }),
            let id = line.split(separator: " ").first
        else { throw TestFailure("service \(service) has no running task: \(last) \(serviceLogs(service))") }
        return String(id)
    }

    /// The host port of a task's host-mode published port: the first entry only, since docker 20.10 may list a
    /// second one that belongs to another task (docs/docker.md).
    func publishedPort(task: String) throws -> Int {
        let ports = try docker(["inspect", "--format", "{{range .Status.PortStatus.Ports}}{{.PublishedPort}} {{end}}", task])
        guard let first = ports.split(separator: " ").first, let port = Int(first) else { throw TestFailure("task \(task) publishes no port: \(ports)") }
        return port
    }

    func container(task: String) throws -> String {
        try docker(["inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", task]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func serviceLogs(_ service: String) -> String {
        guard let r = try? run("/usr/bin/docker", ["-H", Self.host, "service", "logs", "--raw", service]) else { return "" }
        return String((r.out + r.err).suffix(2000))
    }

    /// Removes a network once the removed services' tasks have left it (which takes a few seconds).
    func removeNetwork(_ name: String) {
        for _ in 0..<50 {
            guard let r = try? run("/usr/bin/docker", ["-H", Self.host, "network", "rm", name]) else { return }
            if r.status == 0 || r.err.contains("not found") || r.err.contains("No such network") { return }
            Thread.sleep(forTimeInterval: 0.3)
        }
    }
}
