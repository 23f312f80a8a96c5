import RouteModel

/// Shorthands for the balancer tests: endpoints named by letter, `a` = 10.0.0.1:80, `b` = 10.0.0.2:80, …
enum Pools {
    static let second: UInt64 = 1_000_000_000

    /// The endpoint of letter `name` (a…z).
    static func endpoint(_ name: Character) -> Endpoint {
        Endpoint(host: "10.0.0.\(Int(name.asciiValue! - Character("a").asciiValue!) + 1)", port: 80)
    }

    /// The letter of `endpoint`, "-" for nil.
    static func letter(_ endpoint: Endpoint?) -> String {
        guard let endpoint, let last = endpoint.host.split(separator: ".").last, let n = Int(last) else { return "-" }
        return String(Character(UnicodeScalar(UInt8(96 + n))))
    }

    /// A pool of `count` endpoints a, b, c, ….
    static func pool(_ count: Int, id: Int = 0, weights: [Double] = [], policy: BalancingPolicy = .roundRobin,
                     health: PassiveHealth = PassiveHealth()) -> BackendPool {
        let names = "abcdefghijklmnopqrstuvwxyz".prefix(count)
        return BackendPool(id: id, services: ["s"], endpoints: names.map(endpoint), weights: weights, policy: policy,
                           passiveHealth: health)
    }

    /// `n` picks as letters, e.g. "abcabc".
    static func sequence(_ balancer: inout Balancer, _ pool: BackendPool, _ n: Int, key: String? = nil,
                         excluding: [Endpoint] = [], now: UInt64 = 0) -> String {
        (0..<n).map { _ in letter(balancer.pick(from: pool, affinityKey: key, excluding: excluding, now: now)) }.joined()
    }

    /// How many of `n` picks went to each endpoint.
    static func counts(_ balancer: inout Balancer, _ pool: BackendPool, _ n: Int, now: UInt64 = 0) -> [Endpoint: Int] {
        var counts: [Endpoint: Int] = [:]
        for _ in 0..<n {
            if let e = balancer.pick(from: pool, affinityKey: nil, now: now) { counts[e, default: 0] += 1 }
        }
        return counts
    }
}
