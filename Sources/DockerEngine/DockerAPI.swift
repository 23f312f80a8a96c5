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
    /// The event stream, filtered to `types`; ends when the engine closes it.
    func events(prefix: String, types: [String]) async throws -> AsyncThrowingStream<Docker.Event, Error>
}

extension DockerClient: DockerAPI {
    public var endpointDescription: String { endpoint.description }
}
