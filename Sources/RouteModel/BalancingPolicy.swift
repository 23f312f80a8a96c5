/// How a pool's requests are spread over its endpoints.
///
/// Every policy skips endpoints that passive health checking has taken out (see `PassiveHealth`) and honours
/// the pool's weights; `Balancer` carries the state they need.
public enum BalancingPolicy: Hashable, Sendable, CustomStringConvertible {
    /// Each request to the next endpoint in turn; with unequal weights, nginx's smooth weighted round robin.
    case roundRobin
    /// The endpoint with the fewest requests in flight relative to its weight; ties taken in turn.
    case leastConnections
    /// Requests carrying this cookie go to the endpoint its value hashes to (weighted rendezvous hashing);
    /// requests without it are round robined (`com.docker.lb.sticky_session_cookie`).
    case cookie(String)
    /// Requests go to the endpoint the client's address hashes to (`com.docker.lb.ip_hash`).
    case clientAddress

    /// The policy in label vocabulary: `round_robin`, `least_conn`, `sticky_session_cookie=NAME`, `ip_hash`.
    public var description: String {
        switch self {
        case .roundRobin: return "round_robin"
        case .leastConnections: return "least_conn"
        case .cookie(let name): return "sticky_session_cookie=\(name)"
        case .clientAddress: return "ip_hash"
        }
    }
}
