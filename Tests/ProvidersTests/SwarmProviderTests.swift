import DockerEngine
import TestSupport
import Foundation
import LabelConfig
import Publishing
import RouteModel
import ServiceLifecycle
import Testing

@testable import Providers

/// The Swarm provider against a scripted engine: coalescing, last good table, reconnects — in milliseconds,
/// without dockerd.
struct SwarmProviderTests {
    static func fake() throws -> FakeDockerAPI {
        let state = try SwarmSnapshotTests.state()
        return FakeDockerAPI(services: state.services, tasks: state.tasks, networks: state.networks, nodes: state.nodes)
    }

    /// Runs a provider over `engine` while `body` runs.
    static func running(_ engine: FakeDockerAPI, poll: Duration = .seconds(60), upkeep: UpkeepSettings? = nil,
                        _ body: (Publisher, RecordingLogHandler.Lines) async throws -> Void) async throws {
        let (logger, lines) = RecordingLogHandler.logger()
        let publisher = Publisher(logger: logger)
        var configuration = SwarmProvider.Configuration()
        configuration.pollInterval = poll
        configuration.upkeep = upkeep
        let provider = SwarmProvider(client: engine, configuration: configuration, logger: logger, publisher: publisher)
        let task = Task { await provider.run() }
        defer { task.cancel() }
        try await body(publisher, lines)
    }

    static func eventually(_ seconds: Double = 5, _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            try await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    /// Whether the latest table forwards `host`.
    static func routes(_ publisher: Publisher, _ host: String) -> Bool {
        guard case .forward = publisher.latest?.table.decide(host: host, target: "/") else { return false }
        return true
    }

    /// Changes the hosts label of the recorded service `rec-task`.
    static func relabel(_ engine: FakeDockerAPI, host: String) {
        engine.script.withLock { s in
            let i = s.state.services.firstIndex { $0.Spec.Name == "rec-task" }!
            s.state.services[i].Spec.Labels?["com.docker.lb.hosts"] = host
        }
    }

    /// A controller service `ctl` as the state lists it (`listed`) and as `GET /services/ctl` answers (`raw`),
    /// and the service `rec-task` naming the certificate secrets site.crt/site.key; the upkeep settings that
    /// attach them to `ctl`.
    static func namingSecrets(_ engine: FakeDockerAPI, listed: String, raw: String, refused: Int = 0) -> UpkeepSettings {
        engine.script.withLock { s in
            s.state.services.append(try! JSONDecoder().decode(Docker.Service.self, from: Data(listed.utf8)))
            s.rawServices["ctl"] = raw
            s.secrets = [Docker.Secret(ID: "sid1", name: "site.crt"), Docker.Secret(ID: "sid2", name: "site.key")]
            s.refusedUpdates = refused
            let i = s.state.services.firstIndex { $0.Spec.Name == "rec-task" }!
            s.state.services[i].Spec.Labels?["com.docker.lb.ssl_cert"] = "site.crt"
            s.state.services[i].Spec.Labels?["com.docker.lb.ssl_key"] = "site.key"
        }
        var upkeep = UpkeepSettings()
        upkeep.controllerServiceID = "ctl"
        upkeep.minimumUpdateInterval = .milliseconds(50)
        return upkeep
    }

    @Test("a burst of events is read once and published once")
    func burstsCoalesce() async throws {
        let engine = try Self.fake()
        try await Self.running(engine) { publisher, _ in
            #expect(try await Self.eventually { publisher.latest != nil && engine.emitEvent() })
            try await Task.sleep(for: .milliseconds(100))
            let before = engine.script.withLock { $0.reads }
            Self.relabel(engine, host: "burst.rec.test")
            for _ in 0..<200 { engine.emitEvent() }
            #expect(try await Self.eventually { Self.routes(publisher, "burst.rec.test")
                && publisher.latest?.generation == 2 })
            try await Task.sleep(for: .milliseconds(150))
            let reads = engine.script.withLock { $0.reads } - before
            // One read for the burst, at most one more for events that arrived during it.
            #expect(reads >= 1 && reads <= 2, "reads: \(reads)")
            #expect(publisher.latest?.generation == 2)
        }
    }

    @Test("an unreachable engine keeps the last good table, is said once, and its return is said and read")
    func lastGoodTable() async throws {
        let engine = try Self.fake()
        try await Self.running(engine, poll: .milliseconds(30)) { publisher, lines in
            #expect(try await Self.eventually { publisher.latest != nil })
            let routes = publisher.latest!.table.routes.count
            #expect(routes > 0)
            engine.script.withLock { $0.failing = true }
            #expect(try await Self.eventually { lines.count("Docker Engine unreachable") == 1 })
            try await Task.sleep(for: .milliseconds(200))
            #expect(lines.count("Docker Engine unreachable") == 1)
            #expect(publisher.latest?.generation == 1 && publisher.latest?.table.routes.count == routes)
            Self.relabel(engine, host: "back.rec.test")
            engine.script.withLock { $0.failing = false }
            #expect(try await Self.eventually { publisher.latest?.generation == 2 })
            #expect(lines.count("Docker Engine reachable") == 2)
        }
    }

    @Test("the event stream reconnects after failures and after the engine drops it, asking for a read each time")
    func eventsReconnect() async throws {
        let engine = try Self.fake()
        engine.script.withLock { $0.eventFailures = 2 }
        try await Self.running(engine) { publisher, _ in
            let connected = try await Self.eventually { engine.script.withLock { $0.continuation != nil } }
            #expect(connected)
            #expect(engine.script.withLock { $0.eventConnects } == 3)
            // Let the read the reconnection asked for happen first (the first read, then the connect's), however
            // slow the machine.
            #expect(try await Self.eventually { engine.script.withLock { $0.reads } >= 2 })
            try await Task.sleep(for: .milliseconds(50))
            // A change made while the stream is down is read when it comes back, without a poll (60 s here).
            engine.dropEvents()
            Self.relabel(engine, host: "again.rec.test")
            #expect(try await Self.eventually {
                Self.routes(publisher, "again.rec.test")
            })
            #expect(try await Self.eventually { engine.script.withLock { $0.eventConnects } == 4 })
        }
    }

    @Test("a controller attaches a named certificate secret to its own service; a refused update is made again later")
    func attachesSecrets() async throws {
        let engine = try Self.fake()
        let controller = #"{"ID":"ctl","Version":{"Index":3},"Spec":{"Name":"pier_controller","Labels":{"keep":"me"},"TaskTemplate":{"ContainerSpec":{"Image":"pier:test"}}}}"#
        let upkeep = Self.namingSecrets(engine, listed: controller, raw: controller, refused: 1)
        try await Self.running(engine, poll: .milliseconds(30), upkeep: upkeep) { publisher, lines in
            #expect(try await Self.eventually { engine.script.withLock { !$0.updates.isEmpty } })
            #expect(lines.count("service update failed; planned again") == 1)
            let update = try #require(engine.script.withLock { $0.updates.first })
            #expect(update.id == "ctl" && update.version == 3)
            let spec = try #require(try JSONSerialization.jsonObject(with: update.spec) as? [String: Any])
            let container = (spec["TaskTemplate"] as? [String: Any])?["ContainerSpec"] as? [String: Any]
            #expect(container?["Image"] as? String == "pier:test")
            #expect((container?["Secrets"] as? [[String: Any]])?.compactMap { $0["SecretID"] as? String } == ["sid1", "sid2"])
            #expect((spec["Labels"] as? [String: String]) == ["keep": "me", "com.docker.pier.managed-secrets": "site.crt,site.key"])
            #expect(lines.count("service updated; Swarm rolls its tasks") == 1)
            // Meanwhile the service waits: this task cannot read the secret.
            #expect(publisher.latest?.statuses.first { $0.service == "rec-task" }?.state
                    == .inactive("waiting for secret site.crt to reach the controller"))
        }
    }

    @Test("an update planned from a version of the service that has changed since is not made: it is planned again from fresh state")
    func updatesOnlyThePlannedVersion() async throws {
        // A second controller planned the same change from the state before the first one's update; re-sending
        // it would reset the engine's rolling-update status for good (observed on a real engine: "null" forever).
        let engine = try Self.fake()
        let planned = #"{"ID":"ctl","Version":{"Index":3},"Spec":{"Name":"pier_controller","Labels":{"keep":"me"},"TaskTemplate":{"ContainerSpec":{"Image":"pier:test"}}}}"#
        let changed = #"{"ID":"ctl","Version":{"Index":4},"Spec":{"Name":"pier_controller","Labels":{"keep":"me","other":"change"},"TaskTemplate":{"ContainerSpec":{"Image":"pier:test"}}}}"#
        let upkeep = Self.namingSecrets(engine, listed: planned, raw: changed)
        try await Self.running(engine, poll: .milliseconds(30), upkeep: upkeep) { _, lines in
            #expect(try await Self.eventually { lines.count("service changed since the update was planned") >= 2 })
            #expect(engine.script.withLock { $0.updates.isEmpty })
            // The next read sees version 4: the update is made on it.
            engine.script.withLock { s in
                let i = s.state.services.firstIndex { $0.ID == "ctl" }!
                s.state.services[i] = try! JSONDecoder().decode(Docker.Service.self, from: Data(changed.utf8))
            }
            #expect(try await Self.eventually { engine.script.withLock { !$0.updates.isEmpty } })
            let update = try #require(engine.script.withLock { $0.updates.first })
            #expect(update.id == "ctl" && update.version == 4)
            let spec = try #require(try JSONSerialization.jsonObject(with: update.spec) as? [String: Any])
            #expect((spec["Labels"] as? [String: String]) == ["keep": "me", "other": "change", "com.docker.pier.managed-secrets": "site.crt,site.key"])
        }
    }
}
