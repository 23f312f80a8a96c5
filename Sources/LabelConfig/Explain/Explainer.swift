import RouteModel

/// Explains what Pier does with one request, from a compiled table and what it was compiled from: the TLS
/// step, the route and why it matched, the outcome, and the near misses. Pure: `pier explain` runs it on a
/// file or a Docker snapshot, a live Pier on its latest publication (adding endpoint health).
///
/// The outcome comes from the table's own `decide` and `decideTLS`, so it cannot disagree with the data
/// plane; the near misses read what the table lacks (services left out, their claimed hosts and issues)
/// from the build inputs, statuses and issues.
public enum Explainer {
    /// Explains `request` against `table`. `health`: endpoint health as a live Pier sees it (nil: unknown).
    public static func explain(_ request: ExplainRequest, table: RouteTable, inputs: BuildInputs, statuses: [ServiceStatus],
                               issues: [RouteIssue], health: [Endpoint: Bool]? = nil) -> Explanation {
        var context = Context(request: request, table: table, inputs: inputs, issues: issues, health: health)
        for status in statuses { context.states[status.service] = status.state }
        return context.explain()
    }
}

/// One explanation in the making.
private struct Context {
    let request: ExplainRequest
    let table: RouteTable
    let inputs: BuildInputs
    let issues: [RouteIssue]
    let health: [Endpoint: Bool]?
    var states: [String: ServiceStatus.State] = [:]
    let name: String
    let path: Substring
    var nearMisses: [Explanation.NearMiss] = []

    init(request: ExplainRequest, table: RouteTable, inputs: BuildInputs, issues: [RouteIssue], health: [Endpoint: Bool]?) {
        self.request = request
        self.table = table
        self.inputs = inputs
        self.issues = issues
        self.health = health
        name = HostName.normalize(request.host)
        path = RequestPath.removingDotSegments(RequestPath.split(request.target).path)
    }

    mutating func explain() -> Explanation {
        let serverName = request.scheme == .https ? request.serverName.map { HostName.normalize($0) }.flatMap { $0.isEmpty ? nil : $0 } : nil
        var explanation = Explanation(
            request: .init(method: request.method, entrypoint: request.scheme.rawValue, host: request.host, name: name,
                           target: request.target, serverName: serverName),
            generation: table.generation, tls: nil, route: nil,
            outcome: .init(kind: .noRoute, status: 503, summary: ""), nearMisses: [])
        noteNormalization()
        if request.scheme == .https {
            let (step, final) = tls(serverName: serverName)
            explanation.tls = step
            if let final {
                explanation.outcome = final
                let tlsName = serverName ?? name
                switch final.kind {
                case .tlsReject:
                    serviceMisses(for: tlsName, takenBy: [],
                                  routedReason: "routed for \(tlsName) on plain HTTP only: no ssl_cert/ssl_key for it and no default certificate")
                case .passthrough:
                    serviceMisses(for: tlsName, takenBy: tlsServices(tlsName).union(routeServices(tlsName)))
                default:
                    break
                }
                explanation.nearMisses = nearMisses
                return explanation.withCause()
            }
        }
        (explanation.route, explanation.outcome) = route()
        explanation.nearMisses = nearMisses
        return explanation.withCause()
    }

    // MARK: - TLS

    /// The HTTPS step; a final outcome when the request never reaches the routes (reject, passthrough, 421).
    mutating func tls(serverName: String?) -> (Explanation.TLSStep, Explanation.Outcome?) {
        let entry = serverName.flatMap { table.tlsEntry(forServerName: $0) }
        let sni = serverName.map { "\"\($0)\"" } ?? "(no SNI)"
        switch table.decideTLS(serverName: serverName) {
        case .reject:
            return (.init(action: .reject, certificate: nil, pattern: nil),
                    .init(kind: .tlsReject, status: nil,
                          summary: "refuse the handshake (unrecognized_name): no certificate for \(sni) and no default certificate"))
        case .passthrough(let pool, let proxyProtocol):
            let via = proxyProtocol.map { " with a PROXY protocol \($0.rawValue) header" } ?? ""
            return (.init(action: .passthrough, certificate: nil, pattern: entry?.pattern.description),
                    .init(kind: .passthrough, status: nil,
                          summary: "relay the TLS bytes untouched\(via) to one of \(endpointList(pool)) (\(pool.policy)); HTTP routes are not consulted",
                          pool: describe(pool)))
        case .terminate(let certificate):
            let step = Explanation.TLSStep(action: .terminate, certificate: certificate.name, pattern: entry?.pattern.description)
            // RequestPlanner's rule: a Host other than the SNI is served on this connection only when its own
            // certificate is the one the client checked.
            if !name.isEmpty, name != serverName, table.certificateName(forHost: name) != certificate.name {
                let other = table.certificateName(forHost: name).map { "certificate \"\($0)\"" } ?? "no certificate"
                return (step, .init(kind: .misdirected, status: 421,
                                    summary: "421 Misdirected Request: the connection for \(sni) has certificate \"\(certificate.name)\", and \(name) is served with \(other); the client must open a new connection"))
            }
            return (step, nil)
        }
    }

    /// The services of every route whose host pattern answers for `name`, on either entrypoint.
    func routeServices(_ name: String) -> Set<String> {
        Set(table.routes.filter { $0.host.matches(name) }.flatMap(\.services))
    }

    /// The services the TLS table hands `name` to (passthrough pools, terminating services are in routes).
    func tlsServices(_ name: String) -> Set<String> {
        guard case .passthrough(let pool, _)? = table.tlsEntry(forServerName: name)?.entry else { return [] }
        return Set(table.pools[pool].services)
    }

    // MARK: - Routes

    mutating func route() -> (Explanation.MatchedRoute?, Explanation.Outcome) {
        let match = table.match(name: name, path: path, scheme: request.scheme)
        var route = match.routeIndex.map { table.routes[$0] }
        let isDefault = match.pattern == nil && table.content.defaultRoute != nil
        if isDefault { route = table.content.defaultRoute }
        let decision = table.decide(host: request.host, target: request.target, scheme: request.scheme)
        let outcome = self.outcome(decision, route: route)
        contextRootMisses(match)
        otherEntrypointMisses(taken: route)
        shadowedMisses(match, isDefault: isDefault)
        if case .notFound = decision, let fallback = table.content.defaultRoute {
            nearMisses.append(.init(kind: .defaultBackend, subject: "default backend", reason: "\(services(fallback.services)): takes unknown hosts only; \(name) has routes",
                                    service: fallback.services.first, issues: []))
        }
        var taken = routeServices(name).union(tlsServices(name))
        if isDefault { taken.formUnion(route?.services ?? []) }
        serviceMisses(for: name, takenBy: taken, noRoute: decision == .noRoute)
        if case .forward(_, let pool, _) = decision { emptyServiceMisses(pool) }
        return (route.map { matched($0, match: match, isDefault: isDefault) }, outcome)
    }

    func matched(_ route: Route, match: RouteTable.RouteMatch, isDefault: Bool) -> Explanation.MatchedRoute {
        var why: String
        if isDefault {
            why = "no route answers for \(name.isEmpty ? "this Host" : name); the default backend (com.docker.lb.default_backend) takes it"
        } else {
            switch route.host {
            case .exact: why = "exact host \(name)"
            case .wildcard: why = "wildcard \(route.host) matches \(name)"
            }
            why += route.contextRoot == "/" ? ", context root / takes every path" : ", \(route.contextRoot) is the longest context root prefixing \(path)"
        }
        return .init(host: isDefault ? "*" : route.host.description, contextRoot: route.contextRoot, services: route.services,
                     entrypoints: entrypoints(route.schemes), stripContextRoot: route.stripContextRoot, isDefault: isDefault,
                     webSocketPaths: route.webSocketPaths, why: why)
    }

    func outcome(_ decision: RouteDecision, route: Route?) -> Explanation.Outcome {
        switch decision {
        case .forward(let route, let pool, let target):
            guard !pool.endpoints.isEmpty else {
                return .init(kind: .noEndpoint, status: 503, summary: "503 Service Unavailable: service \(pool.services.joined(separator: ",")) has no running endpoint",
                             pool: describe(pool))
            }
            var summary = "proxy \(request.method) \(target) to one of \(endpointList(pool)) (\(pool.policy))"
            if pool.upstreamProtocol == .h2c { summary += " over h2c" }
            summary += ", Host \(request.host)"
            if route.stripContextRoot { summary += " (context root \(route.contextRoot) stripped)" }
            if !pool.limits.isEmpty { summary += ", limits \(pool.limits)" }
            return .init(kind: .proxy, status: nil, summary: summary, pool: describe(pool), upstreamTarget: target)
        case .redirect(let location, let status):
            let why: String
            if case .proxy? = route?.action {
                why = " (the context root itself gets a trailing slash: com.docker.lb.context_root_rewrite)"
            } else {
                why = " (com.docker.lb.redirects)"
            }
            return .init(kind: .redirect, status: status, summary: "\(status) redirect to \(location)\(why)", location: location)
        case .redirectToHTTPS(let host, let target):
            let port = table.settings.publishedHTTPSPort ?? request.httpsPort
            let authority = port == nil || port == 443 ? host : "\(host):\(port!)"
            let status = request.method == "GET" || request.method == "HEAD" ? 301 : 308
            let location = "https://" + authority + target
            return .init(kind: .redirectToHTTPS, status: status,
                         summary: "\(status) redirect to \(location) (com.docker.lb.ssl_only: plain HTTP goes to HTTPS)", location: location)
        case .notFound:
            return .init(kind: .notFound, status: 404, summary: "404 Not Found: no context root of \(name) matches \(path)")
        case .noRoute:
            let what = name.isEmpty ? "\"\(request.host)\" is not a host name" : "no service is routed for \(name) on the \(request.scheme.rawValue.uppercased()) entrypoint"
            return .init(kind: .noRoute, status: 503, summary: "503 Service Unavailable: \(what), and there is no default backend")
        }
    }

    // MARK: - Near misses

    /// (f) The Host as typed versus the name matched.
    mutating func noteNormalization() {
        guard name != request.host else { return }
        let reason = name.isEmpty
            ? "not a host name: it matches no route"
            : "matched as \(name): routes ignore the port, case and one trailing dot"
        nearMisses.append(.init(kind: .hostNormalized, subject: "Host \"\(request.host)\"", reason: reason, service: nil, issues: []))
    }

    /// (a) The host's other routes on this entrypoint.
    mutating func contextRootMisses(_ match: RouteTable.RouteMatch) {
        let winner = match.routeIndex.map { table.routes[$0].contextRoot }
        for index in match.candidates where index != match.routeIndex {
            let route = table.routes[index]
            let reason: String
            if let winner, prefixes(route.contextRoot, path) {
                reason = "\(winner) is the longer context root"
            } else {
                reason = "context root \(route.contextRoot) does not prefix \(path)"
            }
            nearMisses.append(miss(.contextRoot, route, reason))
        }
    }

    /// (b) Routes of the name on the other entrypoint only, and passthrough hosts for plain HTTP.
    mutating func otherEntrypointMisses(taken: Route?) {
        let other: Scheme = request.scheme == .http ? .https : .http
        let match = table.match(name: name, path: path, scheme: other)
        if let index = match.routeIndex, !table.routes[index].schemes.applies(on: request.scheme) {
            let route = table.routes[index]
            let only = "applies on the \(other.rawValue.uppercased()) entrypoint only"
            var reason: String
            switch route.action {
            case .proxy:
                reason = "proxies on \(other.rawValue.uppercased()) only"
                if case .redirectToHTTPS? = taken?.action {
                    reason += " (com.docker.lb.ssl_only): plain HTTP is redirected there"
                } else if case .redirect? = taken?.action {
                    reason += ": plain HTTP for this host is a redirect (com.docker.lb.redirects)"
                } else {
                    reason = only
                }
            case .redirect(let target, _): reason = "redirects to \(target) on the \(other.rawValue.uppercased()) entrypoint only"
            case .redirectToHTTPS: reason = ""
            }
            if !reason.isEmpty { nearMisses.append(miss(.otherEntrypoint, route, reason)) }
        }
        if request.scheme == .http, case .passthrough(let pool, _)? = table.tlsEntry(forServerName: name)?.entry, taken?.action != .redirectToHTTPS {
            let services = table.pools[pool].services
            nearMisses.append(.init(kind: .otherEntrypoint, subject: "TLS \(table.tlsEntry(forServerName: name)!.pattern)",
                                    reason: "\(self.services(services)): HTTPS connections are passed through (com.docker.lb.ssl_passthrough); plain HTTP has no route of its own",
                                    service: services.first, issues: []))
        }
    }

    /// (c) Wildcards of this entrypoint beaten by an exact name or a longer wildcard.
    mutating func shadowedMisses(_ match: RouteTable.RouteMatch, isDefault: Bool) {
        guard let winner = match.pattern else { return }
        for route in table.routes where route.schemes.applies(on: request.scheme) && route.host != winner && route.host.matches(name) {
            let reason: String
            switch winner {
            case .exact: reason = "the exact host \(name) wins"
            case .wildcard: reason = "the longer wildcard \(winner) wins"
            }
            nearMisses.append(miss(.shadowedHost, route, reason))
        }
    }

    /// (d) Services that claim `name` (or the default backend) but are not among `takenBy`: rejected, of another
    /// cluster, inactive, or routed elsewhere after losing a conflict.
    mutating func serviceMisses(for name: String, takenBy: Set<String>, noRoute: Bool = false, routedReason: String? = nil) {
        for service in inputs.services where !takenBy.contains(service.name) {
            let claims = Labels.claimedHosts(service.labels).contains { $0.matches(name) }
                || (noRoute && Labels.claimsDefaultBackend(service.labels))
            guard claims, let state = states[service.name] else { continue }
            let own = issues.filter { $0.service == service.name }
            let errors = own.filter { $0.severity == .error }
            let subject = "service \"\(service.name)\""
            switch state {
            case .rejected:
                nearMisses.append(.init(kind: .rejected, subject: subject,
                                        reason: "rejected: " + (errors.isEmpty ? "see its issues" : errors.map(Self.issueText).joined(separator: "; ")),
                                        service: service.name, issues: own.map(Self.issue)))
            case .otherCluster(let cluster):
                let ours = inputs.serviceCluster.isEmpty ? "the default cluster" : "cluster \"\(inputs.serviceCluster)\""
                nearMisses.append(.init(kind: .otherCluster, subject: subject,
                                        reason: "belongs to service cluster \"\(cluster)\", served by another Pier (this one serves \(ours))",
                                        service: service.name, issues: []))
            case .inactive(let why):
                nearMisses.append(.init(kind: .inactive, subject: subject, reason: "not routed: \(why)", service: service.name, issues: []))
            case .routed:
                let why = errors.isEmpty ? routedReason ?? "claims \(name) but has no route for it here" : errors.map(Self.issueText).joined(separator: "; ")
                nearMisses.append(.init(kind: .notRoutedForHost, subject: subject, reason: why, service: service.name, issues: errors.map(Self.issue)))
            case .ignored:
                continue
            }
        }
    }

    /// (e) Services of the pool taken that have no running endpoint while others do (a canary at zero).
    mutating func emptyServiceMisses(_ pool: BackendPool) {
        guard !pool.endpoints.isEmpty else { return }
        for service in pool.services where pool.services.count > 1 {
            if case .routed(endpoints: 0)? = states[service] {
                nearMisses.append(.init(kind: .noEndpoint, subject: "service \"\(service)\"",
                                        reason: "shares this route but has no running endpoint: it gets none of its requests",
                                        service: service, issues: []))
            }
        }
        if let health, pool.endpoints.allSatisfy({ health[$0] == false }) {
            nearMisses.append(.init(kind: .noEndpoint, subject: "pool \(pool.id)", reason: "every endpoint is out of rotation after failing its health checks",
                                    service: pool.services.first, issues: []))
        }
    }

    // MARK: - Helpers

    func miss(_ kind: Explanation.NearMiss.Kind, _ route: Route, _ reason: String) -> Explanation.NearMiss {
        let who: String
        switch route.action {
        case .proxy: who = services(route.services)
        case .redirect, .redirectToHTTPS: who = "redirect of \(services(route.services))"
        }
        return .init(kind: kind, subject: "\(route.host)\(route.contextRoot)", reason: "\(who): \(reason)", service: route.services.first, issues: [])
    }

    func services(_ names: [String]) -> String {
        (names.count == 1 ? "service " : "services ") + names.joined(separator: "+")
    }

    func entrypoints(_ schemes: RouteSchemes) -> [String] {
        [Scheme.http, .https].filter { schemes.applies(on: $0) }.map(\.rawValue)
    }

    /// Whether context root `root` is a segment prefix of `path` (the trie's rule).
    func prefixes(_ root: String, _ path: Substring) -> Bool {
        let rootSegments = RequestPath.segments(Substring(root)), pathSegments = RequestPath.segments(path)
        return rootSegments.count <= pathSegments.count
            && zip(rootSegments, pathSegments).allSatisfy { $0.utf8.elementsEqual($1.utf8) }
    }

    func endpointList(_ pool: BackendPool) -> String {
        pool.endpoints.isEmpty ? "no endpoint" : pool.endpoints.map(\.description).joined(separator: " ")
    }

    func describe(_ pool: BackendPool) -> Explanation.Pool {
        let weighted = pool.weights.count == pool.endpoints.count
        let endpoints = pool.endpoints.enumerated().map { index, endpoint in
            Explanation.EndpointState(address: endpoint.description, weight: weighted ? pool.weights[index] : nil, healthy: health?[endpoint])
        }
        return .init(id: pool.id, services: pool.services, endpoints: endpoints, policy: pool.policy.description,
                     upstreamProtocol: pool.upstreamProtocol.rawValue, limits: pool.limits.isEmpty ? "" : pool.limits.description)
    }

    static func issue(_ issue: RouteIssue) -> Explanation.Issue {
        .init(severity: issue.severity.rawValue, key: issue.key, value: issue.value, reason: issue.reason)
    }

    /// `key="value": reason`, the issue without its service.
    static func issueText(_ issue: RouteIssue) -> String {
        var text = ""
        if let key = issue.key {
            text = key + (issue.value.map { "=\"\($0)\"" } ?? "") + ": "
        }
        return text + issue.reason
    }
}

extension Explanation {
    /// The same explanation with its outcome's failure cause, derived from the outcome as the data plane derives it.
    func withCause() -> Explanation {
        var copy = self
        let kind: FailureCause.Kind?
        switch outcome.kind {
        case .notFound: kind = .noContextRoot
        case .noRoute: kind = .noRoute
        case .noEndpoint: kind = .noEndpoint
        case .misdirected: kind = .misdirected
        case .tlsReject: kind = .tlsNoCertificate
        case .proxy, .redirect, .redirectToHTTPS, .passthrough: kind = nil
        }
        copy.outcome.cause = kind.map { "\(FailureCause($0))" }
        return copy
    }
}
