import Foundation

/// What Pier asks of a Docker Engine. `DockerClient` speaks it over the Engine API; tests give providers a
/// scripted engine, so that debounce, last good table and reconnects are tested without dockerd.
public protocol DockerAPI: Sendable {
    /// A description of where the engine is, for logs.
    var endpointDescription: String { get }
    /// Negotiates the API version; returns the path prefix to use (`/v1.41`).
    func negotiate() async throws -> String
    /// Every service.
    func services(prefix: String) async throws -> [Docker.Service]
    /// Tasks whose desired state is running.
    func runningTasks(prefix: String) async throws -> [Docker.Task]
    /// Every network.
    func networks(prefix: String) async throws -> [Docker.Network]
    /// Every node.
    func nodes(prefix: String) async throws -> [Docker.Node]
    /// Every secret's name and ID.
    func secrets(prefix: String) async throws -> [Docker.Secret]
    /// One service as the engine sent it (every field), with its spec's version.
    func rawService(prefix: String, id: String) async throws -> (version: UInt64, json: Data)
    /// Replaces a service's spec; refused when the service changed since `version`.
    func updateService(prefix: String, id: String, version: UInt64, spec: Data) async throws
    /// The event stream, filtered to `types`; ends when the engine closes it.
    func events(prefix: String, types: [String]) async throws -> AsyncThrowingStream<Docker.Event, Error>
}

extension DockerClient: DockerAPI {
    public var endpointDescription: String { endpoint.description }
}
