import RouteModel

/// Compiles service descriptions into a route table plus every issue found. Pure and deterministic: the same
/// input gives an equal table, whatever the order the provider listed services in.
public struct RouteTableBuilder: Sendable {
    /// The result of one compilation.
    public struct Result: Sendable {
        /// The compiled table (generation as given).
        public var table: RouteTable
        /// Every issue, errors first, then by service.
        public var issues: [RouteIssue]
        /// Every service considered, by name.
        public var statuses: [ServiceStatus]

        /// Whether any issue is an error.
        public var hasErrors: Bool { issues.contains { $0.severity == .error } }
    }

    /// Only services of this cluster (`com.docker.lb.service_cluster`, "" = default) are routed.
    public var serviceCluster: String
    /// Settings copied into the table.
    public var settings: ProxySettings

    /// Creates a builder.
    public init(settings: ProxySettings = ProxySettings(), serviceCluster: String = "") {
        self.settings = settings
        self.serviceCluster = serviceCluster
    }

    private struct Claim {
        var host: HostPattern
        var contextRoot: String
        var rewrite: Bool
        var service: String
        var redirect: Labels.Redirect?
    }

    /// Compiles `services` into a table with `generation`.
    public func build(_ services: [ServiceDescription], generation: UInt64 = 1) -> Result {
        var issues: [RouteIssue] = []
        var statuses: [String: ServiceStatus.State] = [:]
        var endpointsByService: [String: [Endpoint]] = [:]
        var claims: [Claim] = []
        var defaultCandidates: [String] = []
        var passthrough: Set<String> = []
        var httpsOnly: Set<String> = []

        for service in services.sorted(by: { $0.name < $1.name }) {
            guard statuses[service.name] == nil else {
                issues.append(RouteIssue(.error, service: service.name, reason: "another service has the same name; only the first is considered"))
                continue
            }
            guard Labels.isRouted(service.labels) else {
                statuses[service.name] = .ignored
                continue
            }
            // Another cluster's services are another Pier's business, their label errors included.
            let cluster = Labels.cluster(of: service.labels)
            guard cluster == serviceCluster else {
                statuses[service.name] = .otherCluster(cluster)
                continue
            }
            let (parsed, labelIssues) = Labels.parse(service: service.name, labels: service.labels)
            issues += labelIssues
            guard let labels = parsed else {
                statuses[service.name] = .rejected
                continue
            }
            var endpoints: [Endpoint] = []
            var missingPort = false
            for address in service.endpoints {
                // A port known for the endpoint itself (file entry, host-mode publish) wins over the label.
                if let port = address.port ?? labels.port {
                    endpoints.append(Endpoint(host: address.host, port: port))
                } else {
                    missingPort = true
                }
            }
            if missingPort {
                issues.append(RouteIssue(.error, service: service.name, key: LabelKey.port.label, value: "",
                                         reason: "missing: the endpoints have no port; set com.docker.lb.port"))
                statuses[service.name] = .rejected
                continue
            }
            let proxiedHosts = labels.sslPassthrough ? [] : labels.hosts.filter { host in
                !labels.redirects.contains { $0.sourceScheme == "http" && $0.sourceHost == host.description }
            }
            if endpoints.isEmpty, !proxiedHosts.isEmpty || (labels.defaultBackend && !labels.sslPassthrough) {
                issues.append(RouteIssue(.warning, service: service.name, reason: "no running endpoints; its requests get 503 until one runs"))
            }
            // Providers list tasks in no particular order: sorting keeps equal input equal tables.
            endpoints.sort()
            endpointsByService[service.name] = endpoints
            if labels.sslPassthrough { passthrough.insert(service.name) }
            statuses[service.name] = .routed(endpoints: endpoints.count)

            // A passthrough service keeps its own TLS: it gets no plain-HTTP route (as in Interlock), and its
            // redirects have no effect.
            for redirect in labels.redirects where redirect.sourceScheme == "http" && !labels.sslPassthrough {
                claims.append(Claim(host: .exact(redirect.sourceHost), contextRoot: "/", rewrite: false,
                                    service: service.name, redirect: redirect))
            }
            for host in proxiedHosts {
                // Stripping `/` is a no-op; leaving it out keeps such tables equal to ones without the label.
                claims.append(Claim(host: host, contextRoot: labels.contextRoot,
                                    rewrite: labels.contextRootRewrite && labels.contextRoot != "/",
                                    service: service.name, redirect: nil))
            }
            // A passthrough service keeps its own TLS: it is no plain-HTTP default backend either.
            if labels.defaultBackend, !labels.sslPassthrough { defaultCandidates.append(service.name) }
            if proxiedHosts.isEmpty, !labels.defaultBackend, !labels.sslPassthrough,
                !labels.redirects.contains(where: { $0.sourceScheme == "http" })
            {
                httpsOnly.insert(service.name)
            }
        }

        // Group claims by (host, context root). Several services on one host without a context root share a
        // pool (canary); any other overlap is a conflict that the first service by name wins.
        var groups: [String: [Claim]] = [:]
        var order: [String] = []
        for claim in claims {
            let key = claim.host.description + " " + claim.contextRoot
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(claim)
        }

        var pools: [BackendPool] = []
        var poolIDs: [[String]: Int] = [:]
        func pool(for names: [String]) -> Int {
            if let id = poolIDs[names] { return id }
            let id = pools.count
            pools.append(BackendPool(id: id, services: names, endpoints: names.flatMap { endpointsByService[$0] ?? [] }))
            poolIDs[names] = id
            return id
        }

        var routes: [Route] = []
        for key in order {
            let group = groups[key]!
            let first = group[0]
            if let redirect = first.redirect {
                routes.append(Route(host: first.host, contextRoot: "/", stripContextRoot: false,
                                    action: .redirect(target: redirect.target, status: 302), services: [first.service]))
                for other in group.dropFirst() { issues.append(conflict(other, winner: first.service)) }
                continue
            }
            var members = [first.service]
            for other in group.dropFirst() {
                if other.redirect == nil, first.contextRoot == "/", other.contextRoot == "/" {
                    if !members.contains(other.service) { members.append(other.service) }
                } else {
                    issues.append(conflict(other, winner: first.service))
                }
            }
            members.sort()
            routes.append(Route(host: first.host, contextRoot: first.contextRoot, stripContextRoot: first.rewrite,
                                action: .proxy(pool: pool(for: members)), services: members))
        }

        var defaultRoute: Route?
        if let chosen = defaultCandidates.first {
            defaultRoute = Route(host: .exact(""), contextRoot: "/", stripContextRoot: false,
                                 action: .proxy(pool: pool(for: [chosen])), services: [chosen])
            for other in defaultCandidates.dropFirst() {
                issues.append(RouteIssue(.error, service: other, key: LabelKey.defaultBackend.label, value: "true",
                                         reason: "conflict: service \"\(chosen)\" is already the default backend"))
            }
        }

        // A service whose every claim lost a conflict routes nothing: it is not "routed".
        let served = Set(routes.flatMap(\.services) + (defaultRoute?.services ?? []))
        for (name, state) in statuses {
            if case .routed = state, !served.contains(name) {
                if passthrough.contains(name) {
                    statuses[name] = .inactive("TLS passthrough is not active yet in this Pier version")
                } else if httpsOnly.contains(name) {
                    statuses[name] = .inactive("its redirects apply on the HTTPS entrypoint, not active yet in this Pier version")
                } else {
                    statuses[name] = .rejected
                }
            }
        }

        let table = RouteTable(generation: generation,
                               content: .init(routes: routes, pools: pools, defaultRoute: defaultRoute, settings: settings))
        let sortedIssues = issues.sorted { ($0.severity, $0.service ?? "", $0.key ?? "") < ($1.severity, $1.service ?? "", $1.key ?? "") }
        let statusList = statuses.map { ServiceStatus(service: $0.key, state: $0.value) }.sorted { $0.service < $1.service }
        return Result(table: table, issues: sortedIssues, statuses: statusList)
    }

    private func conflict(_ claim: Claim, winner: String) -> RouteIssue {
        let what = claim.contextRoot == "/" ? "host \(claim.host)" : "host \(claim.host) with context root \(claim.contextRoot)"
        let key = claim.redirect != nil ? LabelKey.redirects.label : (claim.contextRoot == "/" ? LabelKey.hosts.label : LabelKey.contextRoot.label)
        return RouteIssue(.error, service: claim.service, key: key, value: claim.contextRoot == "/" ? claim.host.description : claim.contextRoot,
                          reason: "conflict: \(what) is already routed to service \"\(winner)\"; this claim is ignored")
    }
}
