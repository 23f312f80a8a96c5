import Foundation
import Testing

/// The two ways to make Pier's image, `scripts/image` (`docker import`, here) and the `Dockerfile` (with a
/// registry), and the stack file that runs it, must describe one image. The Dockerfile cannot be built on this
/// machine (no base image), so these read the files.
@Suite struct PackagingTests {
    @Test func dockerfileAndImportScriptSetTheSameImageConfiguration() throws {
        let dockerfile = try Packaging.dockerfileInstructions()
        let imported = try Packaging.importChanges()
        for key in ["USER", "ENTRYPOINT", "CMD", "EXPOSE"] {
            #expect(dockerfile[key] != nil && imported[key] != nil, "\(key): Dockerfile \(dockerfile[key] ?? "none"), scripts/image \(imported[key] ?? "none")")
        }
        #expect(dockerfile["USER"] == imported["USER"])
        #expect(try Packaging.jsonArray(dockerfile["ENTRYPOINT"]) == Packaging.jsonArray(imported["ENTRYPOINT"]))
        #expect(try Packaging.jsonArray(dockerfile["CMD"]) == Packaging.jsonArray(imported["CMD"]))
        #expect(Packaging.words(dockerfile["EXPOSE"]) == Packaging.words(imported["EXPOSE"]))
        #expect(dockerfile["USER"] == "10001:10001")
    }

    /// docker import takes no HEALTHCHECK, so the stack declares it; the Dockerfile's must be the same check.
    @Test func dockerfileHealthcheckIsTheStacks() throws {
        let healthcheck = try #require(try Packaging.dockerfileInstructions()["HEALTHCHECK"])
        let stack = try Packaging.read("deploy/pier-stack.yml")
        let health = try #require(stack.split(separator: "\n").first { $0.hasPrefix("x-health:") }.map(String.init))
        let command = try #require(healthcheck.range(of: "CMD ")).upperBound
        let stackTest = try #require(Packaging.firstMatch(#"test: \[[^\]]*\]"#, in: health)).dropFirst("test: ".count)
        let stackCommand = try Packaging.jsonArray(String(stackTest))
        #expect(stackCommand.first == "CMD")
        #expect(try Packaging.jsonArray(String(healthcheck[command...])) == Array(stackCommand.dropFirst()))
        let stackOptions = stack.components(separatedBy: "services:")[0]
        for (flag, key) in [("interval", "interval"), ("timeout", "timeout"), ("start-period", "start_period"), ("retries", "retries")] {
            let value = try #require(Packaging.firstMatch("--\(flag)=[^ ]+", in: healthcheck)).split(separator: "=")[1]
            #expect(stackOptions.contains("\(key): \(value)"), "\(flag)=\(value) is not the stack's \(key)")
        }
    }

    /// One static build serves the image and the benchmark: the flags must not drift apart.
    @Test func imageDockerfileAndBenchBuildWithTheSameFlags() throws {
        let script = try Packaging.read("scripts/image")
        let flags = try #require(Packaging.firstMatch(#"BUILD=\([^)]*\)"#, in: script))
        let scriptFlags = Set(flags.dropFirst("BUILD=(".count).dropLast().split(whereSeparator: \.isWhitespace).map(String.init))
            .subtracting(["--scratch-path", "\"$SCRATCH\""])
        let dockerfile = try Packaging.read("Dockerfile")
        let run = try #require(Packaging.firstMatch(#"RUN swift build [^&]*"#, in: dockerfile))
        let dockerFlags = Set(run.replacingOccurrences(of: "\\\n", with: " ").split(whereSeparator: \.isWhitespace).map(String.init))
        #expect(!scriptFlags.isEmpty && scriptFlags.isSubset(of: dockerFlags), "scripts/image \(scriptFlags.sorted()), Dockerfile \(dockerFlags.sorted())")
        #expect(scriptFlags.isSuperset(of: ["-c", "release", "--static-swift-stdlib", "-static-executable", "-enforce-exclusivity=unchecked"]))

        // bench/run builds into the same scratch path with the same flags (else it would rebuild from cold).
        let bench = try Packaging.read("bench/run")
        let release = try #require(Packaging.firstMatch(#"RELEASE=\([^)]*\)"#, in: bench))
        let benchFlags = Set(release.dropFirst("RELEASE=(".count).dropLast().split(whereSeparator: \.isWhitespace).map(String.init))
            .subtracting(["--scratch-path", "\"$SCRATCH\""])
        #expect(benchFlags == scriptFlags, "bench/run \(benchFlags.sorted()), scripts/image \(scriptFlags.sorted())")
        #expect(bench.contains("SCRATCH=\"$REPO/.build-static\"") && script.contains("SCRATCH=.build-static"))
    }
}

/// Reads the packaging files of this checkout.
enum Packaging {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// The final stage's instructions (after the last FROM), continuation lines joined: name → arguments.
    static func dockerfileInstructions() throws -> [String: String] {
        let text = try read("Dockerfile").replacingOccurrences(of: "\\\n", with: " ")
        let lastStage = text.components(separatedBy: "\nFROM ").last ?? ""
        var result: [String: String] = [:]
        for line in lastStage.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { result[String(parts[0])] = String(parts[1]).trimmingCharacters(in: .whitespaces) }
        }
        return result
    }

    /// scripts/image's `--change 'INSTRUCTION arguments'` lines.
    static func importChanges() throws -> [String: String] {
        let script = try read("scripts/image")
        var result: [String: String] = [:]
        for line in script.split(separator: "\n") {
            guard let range = line.range(of: #"--change '[^']*'"#, options: .regularExpression) else { continue }
            let change = line[range].dropFirst("--change '".count).dropLast()
            let parts = change.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { result[String(parts[0])] = String(parts[1]) }
        }
        return result
    }

    static func firstMatch(_ pattern: String, in text: String) -> String? {
        text.range(of: pattern, options: .regularExpression).map { String(text[$0]) }
    }

    static func jsonArray(_ text: String?) throws -> [String] {
        guard let text else { return [] }
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] ?? []
    }

    static func words(_ text: String?) -> Set<Substring> {
        Set((text ?? "").split(separator: " "))
    }
}
