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
    /// Where `ssl_cert`/`ssl_key` names are read from; nil: certificates are not loaded (each is reported).
    public var certificates: (any CertificateSource)?
    /// The certificate for HTTPS clients without SNI or with an unknown name.
    public var defaultCertificate: CertificateNames?

    /// Creates a builder.
    public init(settings: ProxySettings = ProxySettings(), serviceCluster: String = "",
                certificates: (any CertificateSource)? = nil, defaultCertificate: CertificateNames? = nil) {
        self.settings = settings
        self.serviceCluster = serviceCluster
        self.certificates = certificates
        self.defaultCertificate = defaultCertificate
    }

    private struct Claim {
        enum Kind: Equatable {
            case proxy
            case redirect(Labels.Redirect)
            case redirectToHTTPS
        }
        var host: HostPattern
        var contextRoot: String
        var rewrite: Bool
        var service: String
        var kind: Kind
        var schemes: RouteSchemes
        var webSocketPaths: [String] = []
    }

    /// What the compile keeps of a routed service: its parsed labels and endpoints. A class, so that pool
    /// composition reads them without copying a `Labels` (a large value) per lookup.
    final class Accepted: Sendable {
        let labels: Labels
        let endpoints: [Endpoint]

        init(labels: Labels, endpoints: [Endpoint]) {
            self.labels = labels
            self.endpoints = endpoints
        }

        /// Stands for a name without an entry (never expected: pools are made of accepted services).
        static let missing = Accepted(labels: Labels(), endpoints: [])
    }

    private struct TLSClaim {
        var host: HostPattern
        var service: String
        var entry: Entry
        enum Entry { case terminate(TLSCertificate), passthrough(ProxyProtocolVersion?) }
    }

    /// Compiles `services` into a table with `generation`, parsing each one's labels once.
    public func build(_ services: [ServiceDescription], generation: UInt64 = 1) -> Result {
        // Sorted first while the values are small: `build(parsed:)` then finds its order in one pass.
        build(parsed: services.sorted { $0.name < $1.name }.map { $0.parsed() }, generation: generation)
    }

    /// Compiles services whose labels are parsed already (by a provider that read them) into a table with
    /// `generation`.
    public func build(parsed services: [ParsedService], generation: UInt64 = 1) -> Result {
        var issues: [RouteIssue] = []
        var statuses: [String: ServiceStatus.State] = [:]
        var claims: [Claim] = []
        var tlsClaims: [TLSClaim] = []
        var defaultCandidates: [String] = []
        var sslOnlyHosts: [(service: String, host: HostPattern)] = []
        var httpsRedirectSources: [(service: String, host: String)] = []
        var accepted: [String: Accepted] = [:]
        // One entry per service: growing these tables while compiling 10,000 services moved them many times.
        statuses.reserveCapacity(services.count)
        accepted.reserveCapacity(services.count)
        claims.reserveCapacity(services.count)

        // Sorting indices, not the services: each carries its `Labels`, a large value to move.
        for index in services.indices.sorted(by: { services[$0].description.name < services[$1].description.name }) {
            let parsed = services[index]
            let service = parsed.description
            guard statuses[service.name] == nil else {
                issues.append(RouteIssue(.error, service: service.name, reason: "another service has the same name; only the first is considered"))
                continue
            }
            guard parsed.isRouted else {
                statuses[service.name] = .ignored
                continue
            }
            // Another cluster's services are another Pier's business, their label errors included.
            guard parsed.cluster == serviceCluster else {
                statuses[service.name] = .otherCluster(parsed.cluster)
                continue
            }
            issues += parsed.issues
            guard let labels = parsed.labels else {
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
            let httpRedirectSources = Set(labels.redirects.filter { $0.sourceScheme == "http" }.map(\.sourceHost))
            httpsRedirectSources += labels.redirects.filter { $0.sourceScheme == "https" }.map { (service.name, $0.sourceHost) }
            if endpoints.isEmpty, !labels.hosts.isEmpty || labels.defaultBackend {
                issues.append(RouteIssue(.warning, service: service.name, reason: "no running endpoints; its requests get 503 until one runs"))
            }
            // Providers list tasks in no particular order: sorting keeps equal input equal tables.
            endpoints.sort()
            accepted[service.name] = Accepted(labels: labels, endpoints: endpoints)
            statuses[service.name] = .routed(endpoints: endpoints.count)

            for redirect in labels.redirects {
                claims.append(Claim(host: .exact(redirect.sourceHost), contextRoot: "/", rewrite: false, service: service.name,
                                    kind: .redirect(redirect), schemes: redirect.sourceScheme == "http" ? .http : .https))
            }
            if labels.sslPassthrough {
                // The service keeps its own TLS: HTTPS connections for its hosts are relayed as they are, and
                // plain HTTP gets no route of its own (as in Interlock), only the redirects it asks for.
                for host in labels.hosts {
                    tlsClaims.append(TLSClaim(host: host, service: service.name, entry: .passthrough(labels.proxyProtocol)))
                    if labels.sslOnly, !httpRedirectSources.contains(host.description) {
                        claims.append(Claim(host: host, contextRoot: "/", rewrite: false, service: service.name,
                                            kind: .redirectToHTTPS, schemes: .http))
                    }
                }
                continue
            }
            let httpsRedirectSources = Set(labels.redirects.filter { $0.sourceScheme == "https" }.map(\.sourceHost))
            for host in labels.hosts {
                // Stripping `/` is a no-op; leaving it out keeps such tables equal to ones without the label.
                let rewrite = labels.contextRootRewrite && labels.contextRoot != "/"
                // A host that is a redirect source redirects on that entrypoint; ssl_only sends plain HTTP to
                // HTTPS. The service proxies what is left.
                var schemes = RouteSchemes.both
                if httpRedirectSources.contains(host.description) {
                    schemes.remove(.http)
                } else if labels.sslOnly {
                    schemes.remove(.http)
                    claims.append(Claim(host: host, contextRoot: labels.contextRoot, rewrite: false, service: service.name,
                                        kind: .redirectToHTTPS, schemes: .http))
                    sslOnlyHosts.append((service.name, host))
                }
                if httpsRedirectSources.contains(host.description) { schemes.remove(.https) }
                if !schemes.isEmpty {
                    claims.append(Claim(host: host, contextRoot: labels.contextRoot, rewrite: rewrite, service: service.name,
                                        kind: .proxy, schemes: schemes, webSocketPaths: labels.websocketEndpoints))
                }
            }
            if let cert = labels.sslCert, let key = labels.sslKey {
                let names = CertificateNames(certificate: cert, key: key)
                if let certificate = loadCertificate(names, service: service.name, issues: &issues) {
                    let httpsSources = labels.redirects.filter { $0.sourceScheme == "https" }.map { HostPattern.exact($0.sourceHost) }
                    for host in labels.hosts + httpsSources {
                        tlsClaims.append(TLSClaim(host: host, service: service.name, entry: .terminate(certificate)))
                    }
                }
            }
            if labels.defaultBackend { defaultCandidates.append(service.name) }
        }

        var pools: [BackendPool] = []
        var poolIDs: [[String]: Int] = [:]
        // Most pools have one service: keyed by its name, they skip hashing a list.
        var singlePoolIDs: [String: Int] = [:]
        pools.reserveCapacity(claims.count)
        singlePoolIDs.reserveCapacity(claims.count)
        // Kept apart from `issues`, which the compile steps below hold while they create pools.
        var poolIssues: [RouteIssue] = []
        func pool(for names: [String]) -> Int {
            if names.count == 1, let id = singlePoolIDs[names[0]] { return id }
            if names.count != 1, let id = poolIDs[names] { return id }
            let id = pools.count
            let (pool, issues) = Self.composePool(id: id, services: names, accepted: accepted)
            // A service in several pools with the same first service would hear the same thing twice.
            for issue in issues where !poolIssues.contains(issue) { poolIssues.append(issue) }
            pools.append(pool)
            if names.count == 1 { singlePoolIDs[names[0]] = id } else { poolIDs[names] = id }
            return id
        }

        let routes = compileRoutes(claims, pool: pool, issues: &issues)
        let tls = compileTLS(tlsClaims, pool: pool, issues: &issues)

        var defaultRoute: Route?
        if let chosen = defaultCandidates.first {
            defaultRoute = Route(host: .exact(""), contextRoot: "/", stripContextRoot: false,
                                 action: .proxy(pool: pool(for: [chosen])), services: [chosen])
            for other in defaultCandidates.dropFirst() {
                issues.append(RouteIssue(.error, service: other, key: LabelKey.defaultBackend.label, value: "true",
                                         reason: "conflict: service \"\(chosen)\" is already the default backend"))
            }
        }
        issues += poolIssues
        var tlsTable = TLSTable(entries: tls.entries)
        if let names = defaultCertificate {
            tlsTable.defaultCertificate = loadCertificate(names, service: nil, issues: &issues)
        }
        // A service whose every claim lost a conflict routes nothing: it is not "routed".
        let served = Set(routes.flatMap(\.services) + (defaultRoute?.services ?? []) + tls.services)
        for (name, state) in statuses {
            if case .routed = state, !served.contains(name) { statuses[name] = .rejected }
        }

        let table = RouteTable(generation: generation,
                               content: .init(routes: routes, pools: pools, defaultRoute: defaultRoute, settings: settings, tls: tlsTable))
        // Certificate coverage is the table's own SNI lookup (exact names, then wildcards, then the default).
        func covered(_ host: HostPattern) -> Bool {
            switch host {
            case .exact(let name): return table.certificateName(forHost: name) != nil
            case .wildcard: return tlsTable.defaultCertificate != nil || tlsTable.entries[host] != nil
            }
        }
        for (service, host) in sslOnlyHosts where !covered(host) {
            issues.append(RouteIssue(.warning, service: service, key: LabelKey.sslOnly.label, value: "true",
                                     reason: "plain HTTP for \(host) redirects to HTTPS, but no certificate covers it there (no ssl_cert/ssl_key and no default certificate)"))
        }
        for (service, host) in httpsRedirectSources where !covered(.exact(host)) {
            issues.append(RouteIssue(.warning, service: service, key: LabelKey.redirects.label, value: "https://" + host,
                                     reason: "the redirect applies on the HTTPS entrypoint, but no certificate covers \(host) there (no ssl_cert/ssl_key on the service and no default certificate)"))
        }
        let sortedIssues = issues.sorted { ($0.severity, $0.service ?? "", $0.key ?? "") < ($1.severity, $1.service ?? "", $1.key ?? "") }
        let statusList = statuses.map { ServiceStatus(service: $0.key, state: $0.value) }.sorted { $0.service < $1.service }
        return Result(table: table, issues: sortedIssues, statuses: statusList)
    }

    private func loadCertificate(_ names: CertificateNames, service: String?, issues: inout [RouteIssue]) -> TLSCertificate? {
        let key = service == nil ? "DefaultCertificate" : LabelKey.sslCert.label
        guard let certificates else {
            issues.append(RouteIssue(.error, service: service, key: key, value: names.certificate,
                                     reason: "certificates are not loaded in this mode"))
            return nil
        }
        let load = certificates.load(names)
        if let problem = load.problem {
            let reason = load.certificate == nil ? problem : problem + "; the previous certificate stays in use"
            issues.append(RouteIssue(load.certificate == nil ? .error : .warning, service: service, key: key,
                                     value: names.description, reason: reason))
        }
        return load.certificate
    }

    /// Groups claims by (host, context root) and decides each group's route per entrypoint. Several services
    /// on one host without a context root share a pool (canary); any other overlap is a conflict that the
    /// first service by name wins. A group whose two entrypoints agree gives one route for both.
    private func compileRoutes(_ claims: [Claim], pool: (([String]) -> Int), issues: inout [RouteIssue]) -> [Route] {
        // Claims grouped by (host, context root), groups in the order of their first claim.
        var groupOf: [GroupKey: Int] = [:]
        var groups: [[Int]] = []
        groupOf.reserveCapacity(claims.count)
        groups.reserveCapacity(claims.count)
        for (i, claim) in claims.enumerated() {
            let key = GroupKey(host: claim.host, contextRoot: claim.contextRoot)
            if let group = groupOf[key] {
                groups[group].append(i)
            } else {
                groupOf[key] = groups.count
                groups.append([i])
            }
        }
        var routes: [Route] = []
        routes.reserveCapacity(groups.count)
        var reported = Set<Int>()
        for group in groups {
            if group.count == 1 {
                // The common case, one claim for its host and root: no conflict, no sharing, one route for
                // the entrypoints the claim names (what the general path below gives, without its work).
                routes.append(route(for: claims[group[0]], pool: pool))
                continue
            }
            var perScheme: [(Route, RouteSchemes)] = []
            for scheme in [Scheme.http, .https] {
                let members = group.filter { claims[$0].schemes.applies(on: scheme) }
                guard let firstIndex = members.first else { continue }
                let first = claims[firstIndex]
                var services = [first.service]
                var losers: [Int] = []
                var webSocketPaths = Set(first.webSocketPaths)
                let action: RouteAction
                switch first.kind {
                case .redirect(let redirect):
                    action = .redirect(target: redirect.target, status: 302)
                    losers = Array(members.dropFirst())
                case .redirectToHTTPS:
                    action = .redirectToHTTPS
                    // Claims of the same service (its own ssl_only redirect twice) are no conflict.
                    losers = members.dropFirst().filter { claims[$0].service != first.service || claims[$0].kind != .redirectToHTTPS }
                case .proxy:
                    for other in members.dropFirst() {
                        let claim = claims[other]
                        if claim.kind == .proxy, first.contextRoot == "/", claim.contextRoot == "/" {
                            if !services.contains(claim.service) { services.append(claim.service) }
                            // Services sharing a host share its WebSocket paths: an upgrade may reach any of them.
                            webSocketPaths.formUnion(claim.webSocketPaths)
                        } else {
                            losers.append(other)
                        }
                    }
                    services.sort()
                    action = .proxy(pool: pool(services))
                }
                for loser in losers where reported.insert(loser).inserted {
                    issues.append(conflict(claims[loser], winner: first.service))
                }
                let route = Route(host: first.host, contextRoot: first.contextRoot,
                                  stripContextRoot: first.kind == .proxy && first.rewrite,
                                  action: action, services: services, schemes: scheme == .http ? .http : .https,
                                  webSocketPaths: first.kind == .proxy ? webSocketPaths.sorted() : [])
                if let last = perScheme.last, last.0.action == route.action, last.0.services == route.services,
                    last.0.stripContextRoot == route.stripContextRoot, last.0.webSocketPaths == route.webSocketPaths
                {
                    perScheme[perScheme.count - 1].0.schemes = .both
                } else {
                    perScheme.append((route, route.schemes))
                }
            }
            routes += perScheme.map(\.0)
        }
        return routes
    }

    /// A (host, context root) pair: claims that share one compete for it.
    private struct GroupKey: Hashable {
        var host: HostPattern
        var contextRoot: String
    }

    /// The route of a claim that has its host and context root to itself.
    private func route(for claim: Claim, pool: (([String]) -> Int)) -> Route {
        let action: RouteAction
        switch claim.kind {
        case .redirect(let redirect): action = .redirect(target: redirect.target, status: 302)
        case .redirectToHTTPS: action = .redirectToHTTPS
        case .proxy: action = .proxy(pool: pool([claim.service]))
        }
        let webSocketPaths = claim.kind == .proxy ? (claim.webSocketPaths.count > 1 ? Set(claim.webSocketPaths).sorted() : claim.webSocketPaths) : []
        return Route(host: claim.host, contextRoot: claim.contextRoot, stripContextRoot: claim.kind == .proxy && claim.rewrite,
                     action: action, services: [claim.service], schemes: claim.schemes, webSocketPaths: webSocketPaths)
    }

    /// One entry per host on the HTTPS entrypoint: the first service by name wins; passthrough services that
    /// share a host share a pool (canary), and services that name the same certificate agree.
    private func compileTLS(_ claims: [TLSClaim], pool: (([String]) -> Int), issues: inout [RouteIssue])
        -> (entries: [HostPattern: TLSEntry], services: [String])
    {
        var byHost: [HostPattern: [TLSClaim]] = [:]
        for claim in claims { byHost[claim.host, default: []].append(claim) }
        var entries: [HostPattern: TLSEntry] = [:]
        var served: Set<String> = []
        for (host, group) in byHost {
            let first = group[0]
            switch first.entry {
            case .terminate(let certificate):
                entries[host] = .terminate(certificate)
                served.insert(first.service)
                for other in group.dropFirst() {
                    if case .terminate(let same) = other.entry, same == certificate { continue }
                    issues.append(tlsConflict(other, winner: first.service))
                }
            case .passthrough(let proxyProtocol):
                var services = [first.service]
                for other in group.dropFirst() {
                    if case .passthrough = other.entry {
                        if !services.contains(other.service) { services.append(other.service) }
                    } else {
                        issues.append(tlsConflict(other, winner: first.service))
                    }
                }
                services.sort()
                served.formUnion(services)
                entries[host] = .passthrough(pool: pool(services), proxyProtocol: proxyProtocol)
            }
        }
        return (entries, Array(served))
    }

    private func tlsConflict(_ claim: TLSClaim, winner: String) -> RouteIssue {
        let key: LabelKey
        if case .passthrough = claim.entry { key = .sslPassthrough } else { key = .sslCert }
        return RouteIssue(.error, service: claim.service, key: key.label, value: claim.host.description,
                          reason: "conflict: TLS for host \(claim.host) is already handled by service \"\(winner)\"; this claim is ignored")
    }

    private func conflict(_ claim: Claim, winner: String) -> RouteIssue {
        let what = claim.contextRoot == "/" ? "host \(claim.host)" : "host \(claim.host) with context root \(claim.contextRoot)"
        let isRedirect: Bool
        if case .redirect = claim.kind { isRedirect = true } else { isRedirect = false }
        let key = isRedirect ? LabelKey.redirects.label : (claim.contextRoot == "/" ? LabelKey.hosts.label : LabelKey.contextRoot.label)
        return RouteIssue(.error, service: claim.service, key: key, value: claim.contextRoot == "/" ? claim.host.description : claim.contextRoot,
                          reason: "conflict: \(what) is already routed to service \"\(winner)\"; this claim is ignored")
    }
}
