import Foundation
import Testing

extension EndToEnd {
    /// `pier explain` through the executable, on a configuration file: text and `--json`, exit statuses.
    @Suite(.serialized)
    struct ExplainProcessTests {
        let files = ProcessTests()

        /// A file with a root and an `/api` service on app.test, a rejected service and another cluster's.
        func writeConfig(in dir: URL) throws -> String {
            let file = dir.appendingPathComponent("pier.toml")
            let services = files.serviceBlock("web", host: "app.test", port: 9001)
                + files.serviceBlock("api", host: "app.test", port: 9002,
                                     extraLabels: "\"com.docker.lb.context_root\" = \"/api\"\n\"com.docker.lb.context_root_rewrite\" = \"true\"")
                + files.serviceBlock("api-v2", host: "app.test", port: 9003, extraLabels: "\"com.docker.lb.context_root\" = \"api\"")
                + files.serviceBlock("blue", host: "blue.test", port: 9004, extraLabels: "\"com.docker.lb.service_cluster\" = \"b\"")
            try files.config(services: services).write(to: file, atomically: true, encoding: .utf8)
            return file.path
        }

        func json(_ text: String) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        }

        @Test func textSaysRouteWhyOutcomeAndNearMisses() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let config = try writeConfig(in: dir)
            let r = try run(pierBinary, ["explain", "-c", config, "http://app.test/api/users?id=7"])
            #expect(r.status == 0, "\(r.err)")
            let lines = r.out.split(separator: "\n").map(String.init)
            #expect(lines.first == "GET http://app.test/api/users?id=7   entrypoint http   (route table generation 1)")
            #expect(lines.contains("route    app.test/api → service api (strip context root)"), "\(r.out)")
            #expect(lines.contains("outcome  proxy GET /users?id=7 to one of 127.0.0.1:9002 (round_robin), Host app.test (context root /api stripped)"), "\(r.out)")
            #expect(lines.contains { $0.hasPrefix("  app.test/") && $0.hasSuffix("service web: /api is the longer context root") }, "\(r.out)")
            #expect(lines.contains { $0.hasPrefix("  service \"api-v2\"") && $0.contains("rejected: com.docker.lb.context_root=\"api\": ") }, "\(r.out)")
        }

        @Test func jsonCarriesTheOutcomeAndTheRejectedServicesIssue() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let config = try writeConfig(in: dir)
            let r = try run(pierBinary, ["explain", "--config", config, "--host", "APP.test:8080", "--path", "/", "--json"])
            #expect(r.status == 0, "\(r.err)")
            let object = try json(r.out)
            let outcome = try #require(object["outcome"] as? [String: Any])
            #expect(outcome["kind"] as? String == "proxy")
            #expect(outcome["upstreamTarget"] as? String == "/")
            let pool = try #require(outcome["pool"] as? [String: Any])
            #expect((pool["endpoints"] as? [[String: Any]])?.compactMap { $0["address"] as? String } == ["127.0.0.1:9001"])
            #expect((object["route"] as? [String: Any])?["services"] as? [String] == ["web"])
            #expect((object["request"] as? [String: Any])?["name"] as? String == "app.test")
            let misses = try #require(object["nearMisses"] as? [[String: Any]])
            #expect(misses.compactMap { $0["kind"] as? String }.sorted() == ["context_root", "host_normalized", "rejected"], "\(r.out)")
            let rejected = try #require(misses.first { $0["kind"] as? String == "rejected" })
            let issue = try #require((rejected["issues"] as? [[String: Any]])?.first)
            #expect(issue["key"] as? String == "com.docker.lb.context_root")
            #expect(issue["value"] as? String == "api")
            #expect((issue["reason"] as? String)?.isEmpty == false)
        }

        @Test func everyOutcomeExitsZeroAndSaysWhatHappens() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let config = try writeConfig(in: dir)
            let cases: [([String], String)] = [
                (["http://nowhere.test/"], "no_route"),
                (["http://blue.test/"], "no_route"),
                (["https://app.test/"], "tls_reject"),
                (["--https", "--host", "app.test", "--path", "/api"], "tls_reject"),
            ]
            for (arguments, kind) in cases {
                let r = try run(pierBinary, ["explain", "-c", config, "--json"] + arguments)
                #expect(r.status == 0, "\(arguments): \(r.err)")
                #expect((try json(r.out)["outcome"] as? [String: Any])?["kind"] as? String == kind, "\(arguments): \(r.out)")
            }
            let blue = try run(pierBinary, ["explain", "-c", config, "http://blue.test/"])
            #expect(blue.out.contains("outcome  503 Service Unavailable: no service is routed for blue.test"), "\(blue.out)")
            #expect(blue.out.contains("belongs to service cluster \"b\", served by another Pier"), "\(blue.out)")
            let tls = try run(pierBinary, ["explain", "-c", config, "https://app.test/"])
            #expect(tls.out.contains("tls      reject"), "\(tls.out)")
            #expect(tls.out.contains("GET https://app.test/   entrypoint https, SNI app.test"), "\(tls.out)")
        }

        @Test func dockerExplainsTheEnginesSnapshotAndAnUnreachableEngineExitsOne() async throws {
            let engine = try await FakeDockerEngine.start(services: 3) { _ in 0 }
            let r = try run(pierBinary, ["explain", "--docker-host", "tcp://127.0.0.1:\(engine.port)", "http://svc1.swarm.test/x"])
            await engine.stop()
            #expect(r.status == 0, "\(r.out) \(r.err)")
            #expect(r.out.contains("route    svc1.swarm.test/ → service svc1"), "\(r.out)")
            #expect(r.out.contains("outcome  proxy GET /x to one of 10.0.0.3:8080 (round_robin)"), "\(r.out)")

            // Port 1 on loopback: nothing listens there.
            let down = try run(pierBinary, ["explain", "--docker-host", "tcp://127.0.0.1:1", "http://svc1.swarm.test/"])
            #expect(down.status == 1, "\(down.out) \(down.err)")
            #expect(down.out.hasPrefix("error: "), "\(down.out)")
        }

        @Test func anUnreadableSourceExitsOneAndBadArgumentsAreRefused() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let missing = dir.appendingPathComponent("missing.toml").path
            let r = try run(pierBinary, ["explain", "-c", missing, "http://app.test/"])
            #expect(r.status == 1)
            #expect(r.out.contains("cannot read the configuration file \"\(missing)\": not found"), "\(r.out)")

            let config = try writeConfig(in: dir)
            for arguments in [["explain", "-c", config], ["explain", "-c", config, "app.test/x"], ["explain", "http://app.test/"]] {
                let refused = try run(pierBinary, arguments)
                #expect(refused.status != 0 && refused.status != 1, "\(arguments): \(refused.status)")
                #expect(refused.out.isEmpty, "\(arguments)")
            }
        }
    }
}
