/// Whether one service considered by a provider is routed, and if not, why.
public struct ServiceStatus: Hashable, Sendable, CustomStringConvertible {
    /// The state of a service in the compiled table.
    public enum State: Hashable, Sendable {
        /// Routed; `endpoints` may be zero (then its requests get 503).
        case routed(endpoints: Int)
        /// Has no `com.docker.lb.*` label.
        case ignored
        /// Belongs to another service cluster.
        case otherCluster(String)
        /// Not routed because of the issues reported for it.
        case rejected
        /// Valid, but what it asks for is not active in this version.
        case inactive(String)
    }

    /// The service name.
    public var service: String
    /// Its state.
    public var state: State

    /// Creates a status.
    public init(service: String, state: State) {
        self.service = service
        self.state = state
    }

    public var description: String {
        switch state {
        case .routed(let n): return "\(service): routed, \(n) endpoint\(n == 1 ? "" : "s")"
        case .ignored: return "\(service): not routed: no com.docker.lb.* labels"
        case .otherCluster(let c): return "\(service): not routed: service cluster \"\(c)\" is served by another Pier"
        case .rejected: return "\(service): not routed: see its errors"
        case .inactive(let why): return "\(service): not routed: \(why)"
        }
    }
}
