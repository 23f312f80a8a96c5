import DockerEngine
import Foundation
import LabelConfig
import RouteModel
import Testing

@testable import Providers

/// The Swarm provider's view of engine state, on API responses recorded from a real Docker 20.10 engine
/// (Tests/ProvidersTests/Recorded) and on edited copies of them for the cases a single machine cannot show.
struct SwarmSnapshotTests {
    static func recorded<T: Decodable>(_ name: String, as: T.Type) throws -> T {
        let url = try #require(Bundle.module.url(forResource: "Recorded/\(name)", withExtension: "json"))
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    static func state() throws -> SwarmState {
        SwarmState(services: try recorded("services", as: [Docker.Service].self),
                   tasks: try recorded("tasks", as: [Docker.Task].self),
                   networks: try recorded("networks", as: [Docker.Network].self),
                   nodes: try recorded("nodes", as: [Docker.Node].self))
    }

    func describe(_ state: SwarmState) -> (SwarmSnapshot.Result, RouteTableBuilder.Result) {
        let described = SwarmSnapshot.describe(state)
        return (described, RouteTableBuilder().build(parsed: described.services))
    }

    func endpoints(_ result: RouteTableBuilder.Result, host: String) -> [String] {
        guard case .forward(_, let pool, _) = result.table.decide(host: host, target: "/") else { return [] }
        return pool.endpoints.map(\.description)
    }

    @Test func hostModeTasksAreReachedAtNodeAddressAndTheirFirstPublishedPort() throws {
        let (_, result) = describe(try Self.state())
        #expect(endpoints(result, host: "host.rec.test") == ["127.0.0.1:32784", "127.0.0.1:32785"])
    }

    @Test func taskModeUsesTheTaskAddressOnTheServiceNetwork() throws {
        let (_, result) = describe(try Self.state())
        let task = endpoints(result, host: "task.rec.test")
        #expect(task.count == 1)
        #expect(task.allSatisfy { $0.hasPrefix("10.201.0.") && $0.hasSuffix(":8080") })
    }

    @Test func vipModeUsesTheServiceVirtualIPOnItsNetwork() throws {
        let (_, result) = describe(try Self.state())
        #expect(endpoints(result, host: "vip.rec.test") == ["10.201.0.36:8080"])
    }

    @Test func networkProblemsAreReportedAndLeaveOnlyThatServiceOut() throws {
        let (described, result) = describe(try Self.state())
        #expect(described.issues.contains { $0.service == "rec-two-nets" && $0.key == "com.docker.lb.network" && $0.reason.contains("several networks") })
        #expect(described.issues.contains { $0.service == "rec-wrong-net" && $0.value == "nope" && $0.reason.contains("not on network \"nope\"") })
        #expect(described.rejected.keys.sorted() == ["rec-two-nets", "rec-wrong-net"])
        #expect(result.table.decide(host: "two.rec.test", target: "/") == .noRoute)
        #expect(result.statuses.contains { $0.service == "rec-plain" && $0.state == .ignored })
        #expect(!endpoints(result, host: "host.rec.test").isEmpty, "other services keep routing")
    }

    @Test func namingTheNetworkPicksItAmongSeveral() throws {
        var state = try Self.state()
        let i = try #require(state.services.firstIndex { $0.Spec.Name == "rec-two-nets" })
        state.services[i].Spec.Labels?["com.docker.lb.network"] = "pier-test-net"
        let (described, result) = describe(state)
        #expect(described.rejected["rec-two-nets"] == nil)
        #expect(endpoints(result, host: "two.rec.test").allSatisfy { $0.hasPrefix("10.201.0.") })
        #expect(endpoints(result, host: "two.rec.test").count == 1)
    }

    @Test func tasksLeavingRunningLeaveRotationFirst() throws {
        var state = try Self.state()
        let hostService = try #require(state.services.first { $0.Spec.Name == "rec-host" })
        let i = try #require(state.tasks.firstIndex { $0.ServiceID == hostService.ID })
        // The orchestrator is stopping this task: still running, desired state shutdown.
        state.tasks[i].DesiredState = "shutdown"
        let (_, result) = describe(state)
        #expect(endpoints(result, host: "host.rec.test").count == 1)
        // A task still starting does not count either.
        state.tasks[i].DesiredState = "running"
        state.tasks[i].Status.State = "starting"
        #expect(endpoints(describe(state).1, host: "host.rec.test").count == 1)
    }

    @Test func aSecondHostBindingOfTheSameTargetPortIsIgnored() throws {
        // Docker 20.10 may list two bindings with different published ports for one task: the second can
        // belong to another task, so only the first is used.
        var state = try Self.state()
        let hostService = try #require(state.services.first { $0.Spec.Name == "rec-host" })
        let i = try #require(state.tasks.firstIndex { $0.ServiceID == hostService.ID })
        var ports = state.tasks[i].Status.PortStatus?.Ports ?? []
        let first = try #require(ports.first)
        var second = first
        second.PublishedPort = 40000
        ports = [first, second]
        state.tasks[i].Status.PortStatus?.Ports = ports
        let all = endpoints(describe(state).1, host: "host.rec.test")
        #expect(!all.contains("127.0.0.1:40000"))
        #expect(all.count == 2)
    }

    @Test func decodingErrorsNameTheField() throws {
        let bad = Data(#"[{"ID": "x", "Spec": {"Labels": {}}}]"#.utf8)
        do {
            _ = try JSONDecoder().decode([Docker.Service].self, from: bad)
            Issue.record("decoding should fail")
        } catch {
            let described = DockerClient.decodingError(error, path: "/v1.41/services")
            #expect("\(described)" == "Docker API /v1.41/services: cannot decode [0].Spec.Name: missing")
        }
    }

    @Test(arguments: [
        ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),
        ("tcp://10.0.0.1:2375", "tcp://10.0.0.1:2375"),
        ("https://docker.example:2376", "tcp+tls://docker.example:2376"),
    ])
    func endpointsParseLikeTheDockerCLI(_ url: String, _ expected: String) throws {
        #expect(try DockerEndpoint(parsing: url, environment: [:]).description == expected)
    }

    @Test func tlsFollowsDockerTLSVerifyAndCertPath() throws {
        let endpoint = try DockerEndpoint(parsing: "tcp://h:2376", environment: ["DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"])
        guard case .tcp(_, _, let tls?) = endpoint.transport else { Issue.record("no TLS"); return }
        #expect(tls.caPath == "/certs/ca.pem" && tls.certificatePath == "/certs/cert.pem" && tls.keyPath == "/certs/key.pem")
        #expect(throws: DockerError.self) { try DockerEndpoint(parsing: "ftp://h", environment: [:]) }
    }
}
