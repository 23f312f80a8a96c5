import RouteModel

/// Hand-built route tables for the model tests: every proxy route gets its own single-service pool whose
/// one endpoint is named after the service, so that a decision says which service answered.
struct TableFixture {
    private(set) var routes: [Route] = []
    private(set) var pools: [BackendPool] = []
    private(set) var defaultRoute: Route?
    var settings = ProxySettings()

    /// Adds a proxy route for `host` (`app.example.org` or `*.example.org`) and `contextRoot` to `service`.
    mutating func proxy(_ host: String, _ contextRoot: String = "/", strip: Bool = false, to service: String) {
        routes.append(Route(host: HostPattern(host), contextRoot: contextRoot, stripContextRoot: strip,
                            action: .proxy(pool: pool(service)), services: [service]))
    }

    /// Adds a 302 redirect from `host` to `target` (no trailing slash).
    mutating func redirect(_ host: String, to target: String) {
        routes.append(Route(host: HostPattern(host), contextRoot: "/", stripContextRoot: false,
                            action: .redirect(target: target, status: 302), services: ["redirector"]))
    }

    /// Makes `service` the default backend.
    mutating func fallback(to service: String) {
        defaultRoute = Route(host: .exact(""), contextRoot: "/", stripContextRoot: false,
                             action: .proxy(pool: pool(service)), services: [service])
    }

    private mutating func pool(_ service: String) -> Int {
        if let existing = pools.first(where: { $0.services == [service] }) { return existing.id }
        pools.append(BackendPool(id: pools.count, services: [service], endpoints: [Endpoint(host: service, port: 80)]))
        return pools.count - 1
    }

    func table(generation: UInt64 = 1) -> RouteTable {
        RouteTable(generation: generation,
                   content: .init(routes: routes, pools: pools, defaultRoute: defaultRoute, settings: settings))
    }
}

extension RouteDecision {
    /// A compact form for table-driven expectations: `app /x` (service and upstream target), `302 http://n/x`,
    /// `404`, `503`.
    var summary: String {
        switch self {
        case .forward(let route, let pool, let target):
            precondition(route.services == pool.services, "route and pool disagree")
            return "\(pool.services.joined(separator: "+")) \(target)"
        case .redirect(let location, let status):
            return "\(status) \(location)"
        case .redirectToHTTPS(let host, let target):
            return "https \(host)\(target)"
        case .notFound:
            return "404"
        case .noRoute:
            return "503"
        }
    }
}
