import ControlPlane
import LabelConfig
import Publishing
import RouteModel

/// The JSON of `/api/status` (and its alias `/status`): what one Pier process serves, every service with its
/// state and issues, and what its role adds (a controller's proxies, a proxy's controller). Built from a
/// `Publication`, so that the status shows exactly the live table and what it was compiled from.
public struct StatusDocument: Codable, Sendable, Equatable {
    /// `serve`, `controller` or `proxy`.
    public var role: String
    /// This task's name (controller, proxy); nil for `pier serve`.
    public var name: String?
    /// The binary's version (`pier 0.x …`).
    public var pier: String
    /// Whether `/readyz` answers 200.
    public var ready: Bool
    /// Why not, when not ready.
    public var notReady: String?
    /// The live table's generation; nil before the first table.
    public var generation: UInt64?
    /// The content-addressed version of the live inputs (a controller's snapshot), when there is one.
    public var version: String?
    /// When the live table was published, in seconds since 1970.
    public var publishedAt: Double?
    /// How long the live table took to compile, in milliseconds, when measured.
    public var compileMs: Double?
    /// Seconds since the process started.
    public var uptimeSeconds: Double
    /// The live table's routes, in match order, then the default route if any.
    public var routes: [RouteEntry]
    /// Every service the source considered, with its state, routes, endpoints and own issues.
    public var services: [ServiceEntry]
    /// Every issue, services' included (a configuration-wide issue has no service).
    public var issues: [Issue]
    /// Request counters from the data plane, when this process has one and it counts.
    public var traffic: Traffic?
    /// A controller's proxies.
    public var proxies: [SubscriberStatus]?
    /// A proxy's controller.
    public var controller: ControllerLink?

    /// One route: host pattern and context root, as `pier routes` prints them.
    public struct RouteEntry: Codable, Sendable, Equatable {
        /// `host/contextRoot`, e.g. `app.example.com/api`; the default route is `default`.
        public var route: String
        public var host: String
        public var contextRoot: String
        /// `http`, `https` or both.
        public var schemes: [String]
        /// `proxy`, `redirect` or `redirect_to_https`.
        public var action: String
        /// The services the route sends to (proxy routes).
        public var services: [String]
        /// Where a redirect goes, with its status (redirect routes).
        public var redirect: String?
        public var stripContextRoot: Bool
        public var webSocketPaths: [String]
    }

    /// One service and why it is (not) routed.
    public struct ServiceEntry: Codable, Sendable, Equatable {
        public var name: String
        /// `routed`, `rejected`, `other_cluster`, `inactive` or `ignored`.
        public var state: String
        /// The other cluster's name (`other_cluster`), or why it is inactive (`inactive`).
        public var reason: String?
        /// The routes that send to it (`route` of `RouteEntry`).
        public var routes: [String]
        public var endpoints: [EndpointEntry]
        /// Its issues (errors keep it, or part of it, out of the table).
        public var issues: [Issue]
    }

    /// One endpoint of a routed service.
    public struct EndpointEntry: Codable, Sendable, Equatable {
        /// `ip:port`.
        public var address: String
        /// Whether health checks (active or passive) take it; nil when nothing is known (no data plane).
        public var healthy: Bool?
    }

    /// One issue, as `pier check` prints it, in fields.
    public struct Issue: Codable, Sendable, Equatable {
        /// `error` or `warning`.
        public var severity: String
        public var service: String?
        /// The label or configuration key at fault.
        public var key: String?
        /// Its value as given.
        public var value: String?
        public var reason: String

        init(_ issue: RouteIssue) {
            severity = issue.severity.rawValue
            service = issue.service
            key = issue.key
            value = issue.value
            reason = issue.reason
        }
    }

    /// Request counters since the process started (the dashboard derives rates from two readings).
    public struct Traffic: Codable, Sendable, Equatable {
        /// Requests answered, all routes.
        public var requests: UInt64
        /// Of which answered with a 5xx status.
        public var errors: UInt64
        /// Per route (`route` of `RouteEntry`, `-` for requests no route took).
        public var routes: [RouteTraffic]
        /// Failures by cause.
        public var failures: [Failure]

        /// Creates counters.
        public init(requests: UInt64, errors: UInt64, routes: [RouteTraffic] = [], failures: [Failure] = []) {
            self.requests = requests
            self.errors = errors
            self.routes = routes
            self.failures = failures
        }

        /// One route's counters.
        public struct RouteTraffic: Codable, Sendable, Equatable {
            public var route: String
            public var service: String
            public var requests: UInt64
            public var errors: UInt64

            /// Creates a route's counters.
            public init(route: String, service: String, requests: UInt64, errors: UInt64) {
                self.route = route
                self.service = service
                self.requests = requests
                self.errors = errors
            }
        }

        /// How many requests failed for one cause.
        public struct Failure: Codable, Sendable, Equatable {
            /// `downstream`, `router` or `upstream`.
            public var side: String
            public var kind: String
            /// The cause in words.
            public var summary: String
            public var count: UInt64

            /// Creates a failure count.
            public init(side: String, kind: String, summary: String, count: UInt64) {
                self.side = side
                self.kind = kind
                self.summary = summary
                self.count = count
            }
        }
    }

    /// A proxy's view of its controller.
    public struct ControllerLink: Codable, Sendable, Equatable {
        /// The controller's name, once connected.
        public var name: String?
        /// Its address.
        public var address: String?
        /// The last problem (connection refused, a refused snapshot), if any.
        public var problem: String?

        /// Creates a link.
        public init(name: String?, address: String?, problem: String?) {
            self.name = name
            self.address = address
            self.problem = problem
        }
    }
}

extension StatusDocument {
    /// The route's name in status, metrics and dashboard: `host/contextRoot` without a doubled slash.
    public static func name(of route: Route) -> String {
        "\(route.host)\(route.contextRoot)"
    }

    /// The document for `latest` (nil before the first table); `health` says which endpoints health checks
    /// took out, when the process has a data plane.
    public init(role: String, name: String?, pier: String, notReady: String?, latest: Publication?, uptimeSeconds: Double,
                health: [Endpoint: Bool]? = nil) {
        self.role = role
        self.name = name
        self.pier = pier
        self.ready = notReady == nil
        self.notReady = notReady
        self.generation = latest?.generation
        self.version = latest?.version
        self.publishedAt = latest?.publishedAt
        self.compileMs = latest?.compileDuration.map { Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15 }
        self.uptimeSeconds = uptimeSeconds
        let table = latest?.table ?? .empty()
        var entries = table.routes.map { RouteEntry($0, name: Self.name(of: $0)) }
        if let route = table.content.defaultRoute { entries.append(RouteEntry(route, name: "default")) }
        self.routes = entries
        let issues = latest?.issues ?? []
        self.issues = issues.map(Issue.init)
        var routesOf: [String: [String]] = [:], endpointsOf: [String: [Endpoint]] = [:]
        for entry in entries { for service in entry.services { routesOf[service, default: []].append(entry.route) } }
        for pool in table.pools {
            // Services sharing a pool (a canary) each show the pool's endpoints: that is where their requests go.
            for service in pool.services {
                let known = endpointsOf[service] ?? []
                endpointsOf[service] = known + pool.endpoints.filter { !known.contains($0) }
            }
        }
        self.services = (latest?.statuses ?? []).map { status in
            let (state, reason) = Self.describe(status.state)
            return ServiceEntry(
                name: status.service, state: state, reason: reason, routes: routesOf[status.service] ?? [],
                endpoints: (endpointsOf[status.service] ?? []).map { endpoint in
                    EndpointEntry(address: endpoint.description, healthy: health.map { $0[endpoint] ?? true })
                },
                issues: issues.filter { $0.service == status.service }.map(Issue.init))
        }
        self.traffic = nil
        self.proxies = nil
        self.controller = nil
    }

    static func describe(_ state: ServiceStatus.State) -> (String, String?) {
        switch state {
        case .routed: return ("routed", nil)
        case .ignored: return ("ignored", nil)
        case .otherCluster(let cluster): return ("other_cluster", cluster)
        case .rejected: return ("rejected", nil)
        case .inactive(let why): return ("inactive", why)
        }
    }
}

extension StatusDocument.RouteEntry {
    init(_ route: Route, name: String) {
        self.route = name
        host = route.host.description
        contextRoot = route.contextRoot
        schemes = [Scheme.http, .https].filter(route.schemes.applies(on:)).map(\.rawValue)
        services = route.services
        stripContextRoot = route.stripContextRoot
        webSocketPaths = route.webSocketPaths
        switch route.action {
        case .proxy: (action, redirect) = ("proxy", nil)
        case .redirect(let target, let status): (action, redirect) = ("redirect", "\(status) \(target)")
        case .redirectToHTTPS: (action, redirect) = ("redirect_to_https", nil)
        }
    }
}
