import DockerEngine
import Foundation
import Synchronization

/// A scripted Docker Engine: the state it reports, failures on demand, an event stream the test drives, and
/// counts of what was asked.
final class FakeDockerAPI: DockerAPI {
    struct Script {
        var state: (services: [Docker.Service], tasks: [Docker.Task], networks: [Docker.Network], nodes: [Docker.Node])
        var failing = false
        /// How many more `events` calls fail before one succeeds.
        var eventFailures = 0
        var reads = 0
        var eventConnects = 0
        var continuation: AsyncThrowingStream<Docker.Event, Error>.Continuation?
        var secrets: [Docker.Secret] = []
        /// `GET /services/{id}` answers, as the engine would send them.
        var rawServices: [String: String] = [:]
        /// Service updates received: service ID, version, spec.
        var updates: [(id: String, version: UInt64, spec: Data)] = []
        /// How many more updates are refused as out of sequence.
        var refusedUpdates = 0
    }

    let script: Mutex<Script>
    var endpointDescription: String { "fake://engine" }

    init(services: [Docker.Service], tasks: [Docker.Task], networks: [Docker.Network], nodes: [Docker.Node]) {
        script = Mutex(Script(state: (services, tasks, networks, nodes)))
    }

    func negotiate() async throws -> String {
        if script.withLock({ $0.failing }) { throw DockerError.unreachable(endpoint: endpointDescription, underlying: "scripted") }
        return "/v1.41"
    }

    func services(prefix: String) async throws -> [Docker.Service] {
        try script.withLock { s in
            if s.failing { throw DockerError.unreachable(endpoint: "fake://engine", underlying: "scripted") }
            s.reads += 1
            return s.state.services
        }
    }

    func runningTasks(prefix: String) async throws -> [Docker.Task] { try read { $0.state.tasks } }
    func networks(prefix: String) async throws -> [Docker.Network] { try read { $0.state.networks } }
    func nodes(prefix: String) async throws -> [Docker.Node] { try read { $0.state.nodes } }

    func secrets(prefix: String) async throws -> [Docker.Secret] { try read { $0.secrets } }

    func rawService(prefix: String, id: String) async throws -> (version: UInt64, json: Data) {
        try script.withLock { s in
            guard let text = s.rawServices[id] else { throw DockerError.status(path: "/services/\(id)", code: 404, message: "no such service") }
            struct Versioned: Decodable { var Version: Docker.ObjectVersion }
            return (try JSONDecoder().decode(Versioned.self, from: Data(text.utf8)).Version.Index, Data(text.utf8))
        }
    }

    func updateService(prefix: String, id: String, version: UInt64, spec: Data) async throws {
        try script.withLock { s in
            if s.refusedUpdates > 0 {
                s.refusedUpdates -= 1
                throw DockerError.status(path: "/services/\(id)/update", code: 500, message: "update out of sequence")
            }
            s.updates.append((id, version, spec))
        }
    }

    private func read<T>(_ pick: (Script) -> T) throws -> T {
        try script.withLock { s in
            if s.failing { throw DockerError.unreachable(endpoint: "fake://engine", underlying: "scripted") }
            return pick(s)
        }
    }

    func events(prefix: String, types: [String]) async throws -> AsyncThrowingStream<Docker.Event, Error> {
        try script.withLock { s in
            s.eventConnects += 1
            if s.eventFailures > 0 {
                s.eventFailures -= 1
                throw DockerError.unreachable(endpoint: "fake://engine", underlying: "scripted events failure")
            }
            let (stream, continuation) = AsyncThrowingStream.makeStream(of: Docker.Event.self)
            s.continuation = continuation
            return stream
        }
    }

    /// Sends one event on the open stream, if any; returns whether one was open.
    @discardableResult
    func emitEvent() -> Bool {
        script.withLock { s in
            guard let continuation = s.continuation else { return false }
            continuation.yield(try! JSONDecoder().decode(Docker.Event.self, from: Data(#"{"Type":"service","Action":"update"}"#.utf8)))
            return true
        }
    }

    /// Ends the open event stream with an error (the engine restarted).
    func dropEvents() {
        script.withLock { s in
            s.continuation?.finish(throwing: DockerError.unreachable(endpoint: "fake://engine", underlying: "dropped"))
            s.continuation = nil
        }
    }
}

