import Foundation
import Testing

extension EndToEnd {
    /// `pier explain --admin` against a real `pier serve`: the same outcome and near misses as `pier explain -c`
    /// on the same file, plus endpoint health as the data plane sees it; the token; unreachable and bad arguments.
    @Suite(.serialized)
    struct ExplainAdminProcessTests {
        let explain = ExplainProcessTests()

        /// The JSON object without its `healthy` keys (only a live Pier knows them), for comparing sources.
        func withoutHealth(_ value: Any) -> Any {
            if let object = value as? [String: Any] {
                return object.filter { $0.key != "healthy" }.mapValues(withoutHealth)
            }
            if let array = value as? [Any] { return array.map(withoutHealth) }
            return value
        }

        @Test func adminExplainsAsTheFileDoesWithHealthAndNeedsTheToken() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let live = try await TestBackend.start("live")
            let dead = try await refusedPort()
            let config = try explain.writeConfig(in: dir)
            // A service with a dead and a live endpoint: traffic takes the dead one out of rotation.
            let flaky = """

                [[Services]]
                Name = "flaky"
                Endpoints = ["127.0.0.1:\(dead)", "127.0.0.1:\(live.port)"]
                [Services.Labels]
                "com.docker.lb.hosts" = "flaky.test"
                """
            try (String(contentsOfFile: config, encoding: .utf8) + flaky).write(toFile: config, atomically: true, encoding: .utf8)
            let tokenFile = dir.appendingPathComponent("token").path
            try "t0ken-for-explain\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
            // One loop: passive health is per loop, and both requests must meet the same one.
            let pier = try PierProcess(["serve", "-c", config, "--admin", "127.0.0.1:0", "--admin-token-file", tokenFile, "--threads", "1"])
            defer { _ = pier.terminate() }
            let port = try await pier.waitForPort()
            let admin = try await pier.waitForAddress(of: "admin listening")
            let adminArguments = ["--admin", "127.0.0.1:\(admin)", "--admin-token-file", tokenFile]

            for arguments in [["http://app.test/api/users?id=7"], ["http://app.test/"], ["http://blue.test/"], ["https://app.test/"],
                              ["--host", "APP.test:8080", "--path", "/api", "--method", "post"], ["http://nowhere.test/x"]] {
                let file = try run(pierBinary, ["explain", "-c", config, "--json"] + arguments)
                let fromAdmin = try run(pierBinary, ["explain", "--json"] + adminArguments + arguments)
                #expect(file.status == 0 && fromAdmin.status == 0, "\(arguments): \(fromAdmin.out) \(fromAdmin.err)")
                let expected = withoutHealth(try explain.json(file.out)) as? NSDictionary
                let actual = withoutHealth(try explain.json(fromAdmin.out)) as? NSDictionary
                #expect(expected != nil && expected == actual, "\(arguments):\n\(file.out)\n\(fromAdmin.out)")
            }
            // The rejected service's near miss, in text, from the live Pier.
            let text = try run(pierBinary, ["explain"] + adminArguments + ["http://app.test/api/users"])
            #expect(text.status == 0, "\(text.err)")
            #expect(text.out.split(separator: "\n").contains {
                $0.hasPrefix("  service \"api-v2\"") && $0.contains("rejected: com.docker.lb.context_root=\"api\": ")
            }, "\(text.out)")

            // Round robin on one loop: one of two requests meets the dead endpoint, is retried, and leaves it out.
            #expect(try AdminTests.get(port, "/", host: "flaky.test").status == 200)
            #expect(try AdminTests.get(port, "/", host: "flaky.test").status == 200)
            let health = try run(pierBinary, ["explain"] + adminArguments + ["http://flaky.test/"])
            #expect(health.status == 0, "\(health.err)")
            #expect(health.out.contains("127.0.0.1:\(dead) unhealthy"), "\(health.out)")
            #expect(health.out.contains("127.0.0.1:\(live.port) healthy"), "\(health.out)")
            let fromFile = try run(pierBinary, ["explain", "-c", config, "http://flaky.test/"])
            #expect(!fromFile.out.contains("healthy"), "\(fromFile.out)")

            // No token, or the wrong one: 401, exit 1; nothing listening: exit 1; two sources: refused as bad usage.
            let noToken = try run(pierBinary, ["explain", "--admin", "127.0.0.1:\(admin)", "http://app.test/"])
            #expect(noToken.status == 1)
            #expect(noToken.out.hasPrefix("error: unauthorized"), "\(noToken.out)")
            let down = try run(pierBinary, ["explain", "--admin", "127.0.0.1:\(try await refusedPort())", "http://app.test/"])
            #expect(down.status == 1)
            #expect(down.out.hasPrefix("error: cannot reach"), "\(down.out)")
            for arguments in [adminArguments + ["-c", config], ["--admin-token-file", tokenFile, "-c", config], ["--admin", "nowhere"]] {
                let refused = try run(pierBinary, ["explain"] + arguments + ["http://app.test/"])
                #expect(refused.status == 64, "\(arguments): \(refused.status) \(refused.out)")
            }
            await live.stop()
        }
    }
}
