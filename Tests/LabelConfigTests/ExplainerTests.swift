import LabelConfig
import RouteModel
import Testing

@Suite("Explainer: pier explain")
struct ExplainerTests {
    typealias S = Fixture

    /// Compiles `services` as a provider would (certificates from `TLSBuilderTests.Source`) and explains `request`.
    static func explain(_ services: [ServiceDescription], _ request: ExplainRequest, cluster: String = "",
                        defaultCertificate: CertificateNames? = nil, health: [Endpoint: Bool]? = nil) -> Explanation {
        let builder = RouteTableBuilder(serviceCluster: cluster, certificates: TLSBuilderTests.Source(), defaultCertificate: defaultCertificate)
        let (inputs, result) = builder.buildWithInputs(services)
        return Explainer.explain(request, table: result.table, inputs: inputs, statuses: result.statuses, issues: result.issues, health: health)
    }

    static func get(_ url: String, method: String = "GET", httpsPort: Int? = nil) -> ExplainRequest {
        ExplainRequest(url: url, method: method, httpsPort: httpsPort)!
    }

    /// `kind subject: reason` per near miss, for expectations.
    static func misses(_ explanation: Explanation) -> [String] {
        explanation.nearMisses.map { "\($0.kind.rawValue) \($0.subject): \($0.reason)" }
    }

    static let web = S.service("web", S.lb(["hosts": "app.local", "port": "80"]), ["10.0.0.1", "10.0.0.2"])

    // MARK: - Outcomes

    @Test("proxy: the route, why it matched, the pool's endpoints and policy, the target sent upstream")
    func proxy() throws {
        let e = Self.explain([Self.web], Self.get("http://app.local/x?q=1"))
        #expect(e.outcome.kind == .proxy)
        #expect(e.outcome.status == nil)
        #expect(e.outcome.upstreamTarget == "/x?q=1")
        #expect(e.outcome.pool?.endpoints.map(\.address) == ["10.0.0.1:80", "10.0.0.2:80"])
        #expect(e.outcome.pool?.policy == "round_robin")
        #expect(e.outcome.summary == "proxy GET /x?q=1 to one of 10.0.0.1:80 10.0.0.2:80 (round_robin), Host app.local")
        let route = try #require(e.route)
        #expect((route.host, route.contextRoot, route.services, route.isDefault) == ("app.local", "/", ["web"], false))
        #expect(route.why == "exact host app.local, context root / takes every path")
        #expect(e.tls == nil)
        #expect(e.nearMisses.isEmpty)
    }

    @Test("context root rewrite: the root is stripped upstream; the bare root redirects to its trailing slash")
    func strip() {
        let api = S.service("api", S.lb(["hosts": "app.local", "port": "80", "context_root": "/api", "context_root_rewrite": "true"]))
        let e = Self.explain([api], Self.get("http://app.local/api/users"))
        #expect(e.outcome.kind == .proxy)
        #expect(e.outcome.upstreamTarget == "/users")
        #expect(e.route?.stripContextRoot == true)
        #expect(e.route?.why == "exact host app.local, /api is the longest context root prefixing /api/users")
        #expect(e.outcome.summary.contains("(context root /api stripped)"))

        let bare = Self.explain([api], Self.get("http://app.local/api?x=1"))
        #expect(bare.outcome.kind == .redirect)
        #expect(bare.outcome.status == 301)
        #expect(bare.outcome.location == "/api/?x=1")
        #expect(bare.outcome.summary.contains("context_root_rewrite"))
    }

    @Test("redirect: com.docker.lb.redirects answers with its target and the path")
    func redirect() {
        let services = [S.service("mover", S.lb(["hosts": "new.local", "port": "80", "redirects": "http://old.local,http://new.local"]))]
        let e = Self.explain(services, Self.get("http://old.local/p?q"))
        #expect(e.outcome.kind == .redirect)
        #expect(e.outcome.status == 302)
        #expect(e.outcome.location == "http://new.local/p?q")
        #expect(e.route?.services == ["mover"])
        #expect(e.route?.entrypoints == ["http"])
    }

    @Test("ssl_only: plain HTTP redirects to HTTPS (301 for GET, 308 otherwise, the HTTPS port named); the HTTPS route is the near miss")
    func redirectToHTTPS() {
        let secure = S.service("secure", TLSBuilderTests.tls(["hosts": "app.local", "port": "80", "ssl_only": "true"]))
        let e = Self.explain([secure], Self.get("http://app.local/x", httpsPort: 8443))
        #expect(e.outcome.kind == .redirectToHTTPS)
        #expect(e.outcome.status == 301)
        #expect(e.outcome.location == "https://app.local:8443/x")
        #expect(Self.misses(e) == ["other_entrypoint app.local/: service secure: proxies on HTTPS only (com.docker.lb.ssl_only): plain HTTP is redirected there"])

        let post = Self.explain([secure], Self.get("http://app.local/x", method: "POST"))
        #expect(post.outcome.status == 308)
        #expect(post.outcome.location == "https://app.local/x")
    }

    @Test("404: the host is known and no context root prefixes the path; each root says why")
    func notFound() {
        let api = S.service("api", S.lb(["hosts": "app.local", "port": "80", "context_root": "/api"]))
        let e = Self.explain([api], Self.get("http://app.local/apix"))
        #expect(e.outcome.kind == .notFound)
        #expect(e.outcome.status == 404)
        #expect(e.route == nil)
        #expect(Self.misses(e) == ["context_root app.local/api: service api: context root /api does not prefix /apix"])
    }

    @Test("503: no route for the host and no default backend")
    func noRoute() {
        let e = Self.explain([Self.web], Self.get("http://unknown.local/"))
        #expect(e.outcome.kind == .noRoute)
        #expect(e.outcome.status == 503)
        #expect(e.outcome.cause == "router.no_route")
        #expect(e.outcome.summary == "503 Service Unavailable: no service is routed for unknown.local on the HTTP entrypoint, and there is no default backend")
        #expect(e.route == nil)
    }

    @Test("503: the route's service has no running endpoint")
    func noEndpoint() {
        let e = Self.explain([S.service("idle", S.lb(["hosts": "app.local", "port": "80"]), [])], Self.get("http://app.local/"))
        #expect(e.outcome.kind == .noEndpoint)
        #expect(e.outcome.status == 503)
        #expect(e.outcome.cause == "router.no_endpoint")
        #expect(e.outcome.pool?.services == ["idle"])
        #expect(e.route?.services == ["idle"])
    }

    static let twoCertificates = [
        S.service("web", TLSBuilderTests.tls(["hosts": "web.local", "port": "80"])),
        S.service("other", TLSBuilderTests.tls(["hosts": "other.local", "port": "80", "ssl_cert": "other.crt", "ssl_key": "other.key"])),
    ]

    @Test("HTTPS: terminate with the host's certificate, then route")
    func terminate() {
        let e = Self.explain(Self.twoCertificates, Self.get("https://web.local/"))
        #expect(e.tls?.action == .terminate)
        #expect(e.tls?.certificate == "web.crt+web.key")
        #expect(e.tls?.pattern == "web.local")
        #expect(e.request.serverName == "web.local")
        #expect(e.outcome.kind == .proxy)
        #expect(e.route?.services == ["web"])
    }

    @Test("421: a Host served with another certificate than the connection's SNI")
    func misdirected() {
        var request = Self.get("https://other.local/")
        request.serverName = "web.local"
        let e = Self.explain(Self.twoCertificates, request)
        #expect(e.outcome.kind == .misdirected)
        #expect(e.outcome.status == 421)
        #expect(e.outcome.summary.contains("certificate \"web.crt+web.key\", and other.local is served with certificate \"other.crt+other.key\""))
        #expect(e.route == nil)
    }

    @Test("TLS reject: no certificate for the name and no default; the plain-HTTP service says why")
    func tlsReject() {
        let e = Self.explain([S.service("plain", S.lb(["hosts": "plain.local", "port": "80"]))], Self.get("https://plain.local/"))
        #expect(e.tls?.action == .reject)
        #expect(e.outcome.kind == .tlsReject)
        #expect(e.outcome.status == nil)
        #expect(e.route == nil)
        #expect(Self.misses(e) == ["not_routed_for_host service \"plain\": routed for plain.local on plain HTTP only: no ssl_cert/ssl_key for it and no default certificate"])

        let fallback = Self.explain([S.service("plain", S.lb(["hosts": "plain.local", "port": "80"]))], Self.get("https://plain.local/"),
                                    defaultCertificate: CertificateNames(certificate: "default.crt", key: "default.key"))
        #expect(fallback.tls?.certificate == "default.crt+default.key")
        #expect(fallback.tls?.pattern == nil)
        #expect(fallback.outcome.kind == .proxy)
    }

    @Test("passthrough: HTTPS bytes relayed to the pool (PROXY protocol named); plain HTTP has no route and says so")
    func passthrough() {
        let relay = S.service("relay", S.lb(["hosts": "pt.local", "port": "443", "ssl_passthrough": "true", "pier.proxy_protocol": "v2"]))
        let e = Self.explain([relay], Self.get("https://pt.local/"))
        #expect(e.tls?.action == .passthrough)
        #expect(e.tls?.pattern == "pt.local")
        #expect(e.outcome.kind == .passthrough)
        #expect(e.outcome.pool?.endpoints.map(\.address) == ["10.0.0.1:443"])
        #expect(e.outcome.summary.contains("PROXY protocol v2"))
        #expect(e.nearMisses.isEmpty)

        let plain = Self.explain([relay], Self.get("http://pt.local/"))
        #expect(plain.outcome.kind == .noRoute)
        #expect(Self.misses(plain) == ["other_entrypoint TLS pt.local: service relay: HTTPS connections are passed through (com.docker.lb.ssl_passthrough); plain HTTP has no route of its own"])
    }

    // MARK: - Near misses

    @Test("(a) another route of the host: the longer context root wins; a root that does not prefix the path")
    func contextRoots() {
        let services = [Self.web, S.service("api", S.lb(["hosts": "app.local", "port": "80", "context_root": "/api"]))]
        let api = Self.explain(services, Self.get("http://app.local/api/x"))
        #expect(api.route?.services == ["api"])
        #expect(Self.misses(api) == ["context_root app.local/: service web: /api is the longer context root"])

        let root = Self.explain(services, Self.get("http://app.local/x"))
        #expect(root.route?.services == ["web"])
        #expect(Self.misses(root) == ["context_root app.local/api: service api: context root /api does not prefix /x"])
    }

    @Test("(b) a host that proxies on HTTPS only because plain HTTP redirects")
    func httpsOnly() {
        let upgrade = S.service("site", S.lb(["hosts": "app.local", "port": "80", "redirects": "http://app.local,https://app.local"]))
        let e = Self.explain([upgrade], Self.get("http://app.local/x"))
        #expect(e.outcome.kind == .redirect)
        #expect(e.outcome.location == "https://app.local/x")
        #expect(Self.misses(e) == ["other_entrypoint app.local/: service site: proxies on HTTPS only: plain HTTP for this host is a redirect (com.docker.lb.redirects)"])

        // On HTTPS the proxying route takes it; the HTTP-only redirect is the near miss.
        let secure = Self.explain([upgrade], Self.get("https://app.local/x"), defaultCertificate: CertificateNames(certificate: "default.crt", key: "default.key"))
        #expect(secure.outcome.kind == .proxy)
        #expect(Self.misses(secure) == ["other_entrypoint app.local/: redirect of service site: redirects to https://app.local on the HTTP entrypoint only"])
    }

    @Test("(c) a wildcard shadowed by the exact host; the default backend takes unknown hosts only")
    func shadowedAndDefault() throws {
        let services = [
            S.service("exact", S.lb(["hosts": "a.example.local", "port": "80"])),
            S.service("wild", S.lb(["hosts": "*.example.local", "port": "80"])),
            S.service("fallback", S.lb(["default_backend": "true", "port": "80"])),
        ]
        let e = Self.explain(services, Self.get("http://a.example.local/"))
        #expect(e.route?.services == ["exact"])
        #expect(Self.misses(e) == ["shadowed_host *.example.local/: service wild: the exact host a.example.local wins"])

        let other = Self.explain(services, Self.get("http://b.example.local/"))
        #expect(other.route?.why == "wildcard *.example.local matches b.example.local, context root / takes every path")

        let unknown = Self.explain(services, Self.get("http://elsewhere.local/x"))
        let route = try #require(unknown.route)
        #expect(route.isDefault)
        #expect(route.services == ["fallback"])
        #expect(unknown.outcome.kind == .proxy)
        #expect(route.why.contains("default backend"))
    }

    @Test("(c) 404 on a known host mentions that the default backend takes unknown hosts only")
    func defaultBackendOnKnownHost() {
        let services = [
            S.service("api", S.lb(["hosts": "app.local", "port": "80", "context_root": "/api"])),
            S.service("fallback", S.lb(["default_backend": "true", "port": "80"])),
        ]
        let e = Self.explain(services, Self.get("http://app.local/other"))
        #expect(e.outcome.kind == .notFound)
        #expect(Self.misses(e).contains("default_backend default backend: service fallback: takes unknown hosts only; app.local has routes"))
    }

    @Test("(d) a service rejected for its labels: key, value and reason")
    func rejected() throws {
        let services = [Self.web, S.service("api-v2", S.lb(["hosts": "app.local", "port": "80", "context_root": "api"]))]
        let e = Self.explain(services, Self.get("http://app.local/api/x"))
        #expect(e.outcome.kind == .proxy)
        let miss = try #require(e.nearMisses.first { $0.kind == .rejected })
        #expect(miss.subject == "service \"api-v2\"")
        #expect(miss.reason.hasPrefix("rejected: com.docker.lb.context_root=\"api\": "))
        let issue = try #require(miss.issues.first)
        #expect((issue.severity, issue.key, issue.value) == ("error", "com.docker.lb.context_root", "api"))
    }

    @Test("(d) a service of another service cluster")
    func otherCluster() {
        let services = [S.service("blue", S.lb(["hosts": "app.local", "port": "80", "service_cluster": "b"]))]
        let e = Self.explain(services, Self.get("http://app.local/"))
        #expect(e.outcome.kind == .noRoute)
        #expect(Self.misses(e) == ["other_cluster service \"blue\": belongs to service cluster \"b\", served by another Pier (this one serves the default cluster)"])

        let b = Self.explain(services, Self.get("http://app.local/"), cluster: "b")
        #expect(b.outcome.kind == .proxy)
        #expect(b.nearMisses.isEmpty)
    }

    @Test("(d) a service that lost a conflict for the host, and an inactive one")
    func conflictAndInactive() {
        let services = [
            S.service("alpha", S.lb(["hosts": "app.local", "port": "80", "context_root": "/app"])),
            S.service("zeta", S.lb(["hosts": "app.local", "port": "80", "context_root": "/app"])),
        ]
        let e = Self.explain(services, Self.get("http://app.local/app"))
        #expect(e.route?.services == ["alpha"])
        #expect(Self.misses(e) == [
            "rejected service \"zeta\": rejected: com.docker.lb.context_root=\"/app\": conflict: host app.local with context root /app is already routed to service \"alpha\"; this claim is ignored",
        ])

        // A provider holds a service back (its network is being attached): its status says why.
        let held = S.service("held", S.lb(["hosts": "held.local", "port": "80"]))
        let inputs = BuildInputs(services: [held])
        let table = RouteTable.empty()
        let explained = Explainer.explain(Self.get("http://held.local/"), table: table, inputs: inputs,
                                          statuses: [ServiceStatus(service: "held", state: .inactive("waiting for network ingress-b"))], issues: [])
        #expect(explained.outcome.kind == .noRoute)
        #expect(Self.misses(explained) == ["inactive service \"held\": not routed: waiting for network ingress-b"])
    }

    @Test("(e) a canary service without endpoints, and a pool whose endpoints all fail their health checks")
    func emptyServiceInPool() {
        let services = [
            S.service("v1", S.lb(["hosts": "app.local", "port": "80"]), ["10.0.0.1"]),
            S.service("v2", S.lb(["hosts": "app.local", "port": "80"]), []),
        ]
        let e = Self.explain(services, Self.get("http://app.local/"))
        #expect(e.outcome.kind == .proxy)
        #expect(Self.misses(e) == ["no_endpoint service \"v2\": shares this route but has no running endpoint: it gets none of its requests"])

        let sick = Self.explain([Self.web], Self.get("http://app.local/"),
                                health: [Endpoint(host: "10.0.0.1", port: 80): false, Endpoint(host: "10.0.0.2", port: 80): false])
        #expect(sick.outcome.pool?.endpoints.map(\.healthy) == [false, false])
        #expect(sick.nearMisses.map(\.kind) == [.noEndpoint])
    }

    @Test("(f) the Host as typed: port, case and trailing dot are ignored; a non-name matches nothing")
    func hostNormalized() {
        let e = Self.explain([Self.web], Self.get("http://App.Local.:8080/"))
        #expect(e.request.name == "app.local")
        #expect(e.outcome.kind == .proxy)
        #expect(Self.misses(e) == ["host_normalized Host \"App.Local.:8080\": matched as app.local: routes ignore the port, case and one trailing dot"])

        let bad = Self.explain([Self.web], ExplainRequest(host: "app.local/x"))
        #expect(bad.outcome.kind == .noRoute)
        #expect(bad.outcome.summary.contains("is not a host name"))
    }

    @Test("URL parsing: scheme, host, port, path, query; https implies SNI; no scheme is refused")
    func parsing() throws {
        let r = try #require(ExplainRequest(url: "HTTPS://App.local:8443/a/b?c=d#frag", method: "POST"))
        #expect((r.scheme, r.host, r.target, r.serverName, r.method) == (.https, "App.local:8443", "/a/b?c=d", "App.local", "POST"))
        let bare = try #require(ExplainRequest(url: "http://app.local"))
        #expect((bare.target, bare.serverName) == ("/", nil))
        #expect(ExplainRequest(url: "app.local/x") == nil)
        #expect(ExplainRequest(url: "http:///x") == nil)
        #expect(ExplainRequest(url: "http://user@app.local/") == nil)

        // What pier explain's --host, --path, --https and --sni do to it.
        let moved = bare.replacing(host: "b.local:8080", path: "x?y", https: true)
        #expect((moved.scheme, moved.host, moved.target, moved.serverName) == (.https, "b.local:8080", "/x?y", "b.local"))
        #expect(bare.replacing(serverName: "").serverName == nil)
        #expect(bare.replacing(serverName: "c.local").scheme == .https)
        #expect(r.replacing(host: "[::1]:8443").serverName == "[::1]")
    }

    @Test("the outcome is the table's own decision for every request of a mixed table")
    func agreesWithDecide() {
        let services = [Self.web, S.service("api", S.lb(["hosts": "app.local,*.app.local", "port": "80", "context_root": "/api", "context_root_rewrite": "true"]))]
        let (inputs, result) = RouteTableBuilder().buildWithInputs(services)
        for target in ["/", "/api", "/api/x", "//api/x", "/api/../x", "/x/../api/y"] {
            for host in ["app.local", "b.app.local", "none.local"] {
                let e = Explainer.explain(ExplainRequest(host: host, target: target), table: result.table, inputs: inputs,
                                          statuses: result.statuses, issues: result.issues)
                let decision = result.table.decide(host: host, target: target)
                switch decision {
                case .forward(let route, _, let upstream):
                    #expect(e.outcome.kind == .proxy && e.outcome.upstreamTarget == upstream && e.route?.services == route.services, "\(host)\(target)")
                case .redirect(let location, _): #expect(e.outcome.location == location, "\(host)\(target)")
                case .notFound: #expect(e.outcome.kind == .notFound, "\(host)\(target)")
                case .noRoute: #expect(e.outcome.kind == .noRoute, "\(host)\(target)")
                case .redirectToHTTPS: Issue.record("no ssl_only in this table")
                }
            }
        }
    }

    @Test("text: one labelled line per step, near misses aligned")
    func text() {
        let services = [Self.web, S.service("api", S.lb(["hosts": "app.local", "port": "8080", "context_root": "/api", "context_root_rewrite": "true"]))]
        let text = ExplanationPrinter.render(Self.explain(services, Self.get("http://app.local/api/x")))
        #expect(text == """
            GET http://app.local/api/x   entrypoint http   (route table generation 1)
            route    app.local/api → service api (strip context root)
            why      exact host app.local, /api is the longest context root prefixing /api/x
            outcome  proxy GET /x to one of 10.0.0.1:8080 (round_robin), Host app.local (context root /api stripped)
            near misses
              app.local/  service web: /api is the longer context root

            """)
    }
}
