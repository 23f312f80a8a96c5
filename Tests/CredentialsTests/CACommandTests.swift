import Foundation
import Testing

/// `pier ca init | issue | bundle` through the built `pier` executable.
@Suite("pier ca (the executable)", .serialized)
struct CACommandTests {
    /// The `pier` product next to this test bundle ($PIER_BINARY overrides).
    static let pier: String = {
        if let path = ProcessInfo.processInfo.environment["PIER_BINARY"] { return path }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("pier").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/pier").path
    }()

    static let files = ["ca.crt", "ca.key", "controller.crt", "controller.key", "proxy.crt", "proxy.key"]

    func mode(_ path: URL) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: path.path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func initWritesSixFilesKeysPrivateAndNeverOverwrites() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("ca")
        let first = try runProcess(Self.pier, ["ca", "init", "--out", out.path])
        #expect(first.status == 0, "\(first.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted() == Self.files)
        for name in Self.files {
            #expect(try mode(out.appendingPathComponent(name)) == (name.hasSuffix(".key") ? 0o600 : 0o644), "\(name)")
        }
        for leaf in ["controller.crt", "proxy.crt"] {
            #expect(try openssl(["verify", "-CAfile", out.appendingPathComponent("ca.crt").path, out.appendingPathComponent(leaf).path]).hasSuffix(": OK\n"))
        }
        #expect(!first.out.contains("PRIVATE KEY") && !first.err.contains("PRIVATE KEY"))

        let before = try Self.files.map { try Data(contentsOf: out.appendingPathComponent($0)) }
        let again = try runProcess(Self.pier, ["ca", "init", "--out", out.path])
        #expect(again.status == 1)
        #expect(again.err.contains("\(out.path)/ca.crt already exists"), "\(again.err)")
        #expect(try Self.files.map { try Data(contentsOf: out.appendingPathComponent($0)) } == before)

        // One existing file is enough to refuse, and nothing else is written.
        let partial = root.appendingPathComponent("partial")
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: false)
        try Data().write(to: partial.appendingPathComponent("proxy.key"))
        let refused = try runProcess(Self.pier, ["ca", "init", "--out", partial.path])
        #expect(refused.status == 1 && refused.err.contains("proxy.key already exists"), "\(refused.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: partial.path) == ["proxy.key"])
    }

    @Test func issueMakesALeafOfTheExistingCA() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let ca = root.appendingPathComponent("ca"), out = root.appendingPathComponent("v2")
        #expect(try runProcess(Self.pier, ["ca", "init", "--out", ca.path]).status == 0)
        let issued = try runProcess(Self.pier, ["ca", "issue", "--ca", ca.path, "--role", "proxy", "--out", out.path])
        #expect(issued.status == 0, "\(issued.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted() == ["proxy.crt", "proxy.key"])
        #expect(try mode(out.appendingPathComponent("proxy.key")) == 0o600)
        #expect(try openssl(["verify", "-CAfile", ca.appendingPathComponent("ca.crt").path, "-purpose", "sslclient",
                             out.appendingPathComponent("proxy.crt").path]).hasSuffix(": OK\n"))
        #expect(try Data(contentsOf: out.appendingPathComponent("proxy.crt")) != Data(contentsOf: ca.appendingPathComponent("proxy.crt")))

        let badRole = try runProcess(Self.pier, ["ca", "issue", "--ca", ca.path, "--role", "admin", "--out", out.path])
        #expect(badRole.status != 0 && badRole.err.contains("--role must be controller or proxy"), "\(badRole.err)")
        let noCA = try runProcess(Self.pier, ["ca", "issue", "--ca", out.path, "--role", "proxy", "--out", root.path])
        #expect(noCA.status == 1 && noCA.err.contains("\(out.path)/ca.crt: not found"), "\(noCA.err)")
    }

    @Test func bundleConcatenatesCACertificatesOnly() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let old = root.appendingPathComponent("old"), new = root.appendingPathComponent("new")
        for dir in [old, new] { #expect(try runProcess(Self.pier, ["ca", "init", "--out", dir.path]).status == 0) }
        let oldCA = try String(contentsOf: old.appendingPathComponent("ca.crt"), encoding: .utf8)
        let newCA = try String(contentsOf: new.appendingPathComponent("ca.crt"), encoding: .utf8)
        let bundle = try runProcess(Self.pier, ["ca", "bundle", old.appendingPathComponent("ca.crt").path, new.appendingPathComponent("ca.crt").path])
        #expect(bundle.status == 0, "\(bundle.err)")
        #expect(bundle.out == oldCA + newCA)

        let leaf = old.appendingPathComponent("proxy.crt").path
        let refused = try runProcess(Self.pier, ["ca", "bundle", new.appendingPathComponent("ca.crt").path, leaf])
        #expect(refused.status == 1 && refused.out.isEmpty, "\(refused.out)")
        #expect(refused.err.contains("\(leaf): holds a certificate that is not a CA"), "\(refused.err)")
    }
}

/// `pier ca init --docker` against the engine `scripts/swarm-env start` runs (as the Swarm tests do);
/// skipped, not passed, without one.
@Suite("pier ca init --docker (real engine)", .serialized, .enabled(if: SwarmEngineForCA.available, "needs a Docker Engine in Swarm mode: run scripts/swarm-env start"))
struct CACommandDockerTests {
    @Test func initCreatesTheFiveSecretsAndRefusesExistingNames() throws {
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let suffix = "t\(UInt32.random(in: 0...UInt32.max))"
        let names = ["pier-ca.crt", "pier-controller.crt", "pier-controller.key", "pier-proxy.crt", "pier-proxy.key"].map { "\($0)-\(suffix)" }
        defer { _ = try? SwarmEngineForCA.docker(["secret", "rm"] + names) }
        let created = try runProcess(CACommandTests.pier, ["ca", "init", "--out", root.appendingPathComponent("a").path, "--docker",
                                                           "--docker-host", SwarmEngineForCA.host, "--suffix", suffix])
        #expect(created.status == 0, "\(created.err)")
        let listed = try SwarmEngineForCA.docker(["secret", "ls", "--format", "{{.Name}}"]).split(separator: "\n").map(String.init)
        #expect(listed.filter { $0.hasSuffix("-\(suffix)") }.sorted() == names.sorted(), "\(listed)")
        #expect(!listed.contains { $0.contains("ca.key") }, "the CA key became a secret")
        // The engine never returns a secret's data: names are what can be checked from outside.
        #expect(try SwarmEngineForCA.docker(["secret", "inspect", "--format", "{{.Spec.Name}}"] + names)
            .split(separator: "\n").map(String.init) == names)

        let again = try runProcess(CACommandTests.pier, ["ca", "init", "--out", root.appendingPathComponent("b").path, "--docker",
                                                         "--docker-host", SwarmEngineForCA.host, "--suffix", suffix])
        #expect(again.status == 1 && again.err.contains("secrets/create answered 409"), "\(again.err)")
    }
}

/// The engine of `scripts/swarm-env` (PIER_TEST_DOCKER_HOST, else the socket in PIER_SWARM_DIR).
enum SwarmEngineForCA {
    static let host = ProcessInfo.processInfo.environment["PIER_TEST_DOCKER_HOST"]
        ?? "unix://\(ProcessInfo.processInfo.environment["PIER_SWARM_DIR"] ?? "/tmp/pier-swarm")/docker.sock"

    static let available: Bool = {
        guard let result = try? runProcess("/usr/bin/env", ["docker", "-H", host, "info", "--format", "{{.Swarm.LocalNodeState}}"]) else { return false }
        return result.status == 0 && result.out.trimmingCharacters(in: .whitespacesAndNewlines) == "active"
    }()

    @discardableResult
    static func docker(_ arguments: [String]) throws -> String {
        let result = try runProcess("/usr/bin/env", ["docker", "-H", host] + arguments)
        guard result.status == 0 else { throw TestFailure(description: "docker \(arguments.joined(separator: " ")): \(result.err)") }
        return result.out
    }
}
