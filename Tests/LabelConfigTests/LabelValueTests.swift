import LabelConfig
import RouteModel
import Testing

/// One label value and what parsing it must give.
struct LabelValueCase: Sendable, CustomTestStringConvertible {
    enum Outcome: Sendable {
        /// Accepted; the parsed field, as `LabelValueTests.field` prints it.
        case parsed(String)
        /// Rejected with one error on this key whose reason contains the text.
        case error(String)
    }

    var key: LabelKey
    var value: String
    var outcome: Outcome

    init(_ key: LabelKey, _ value: String, _ outcome: Outcome) {
        self.key = key
        self.value = value
        self.outcome = outcome
    }

    var testDescription: String { "\(key.rawValue)=\"\(value)\"" }

    /// The labels to parse: the case's label plus whatever makes an otherwise valid service.
    var labels: [String: String] {
        var labels = [key.label: value]
        if key != .hosts { labels[LabelKey.hosts.label] = "app.example.org" }
        if key == .sslCert { labels[LabelKey.sslKey.label] = "web.key" }
        if key == .sslKey { labels[LabelKey.sslCert.label] = "web.cert" }
        if [.healthInterval, .healthTimeout, .healthStatus].contains(key) { labels[LabelKey.healthPath.label] = "/healthz" }
        return labels
    }
}

@Suite("Label values")
struct LabelValueTests {
    static let validCases: [LabelValueCase] = [
        .init(.hosts, "app.example.org", .parsed("app.example.org")),
        .init(.proxyProtocol, "v1", .parsed("v1")),
        .init(.upstreamProtocol, "H2C", .parsed("h2c")),
        .init(.upstreamProtocol, "http1", .parsed("http1")),
        .init(.proxyProtocol, "2", .parsed("v2")),
        .init(.sslCert, "/etc/pier/cert.pem", .parsed("/etc/pier/cert.pem")),
        .init(.hosts, "App.Example.ORG.", .parsed("app.example.org")),
        .init(.hosts, " a.org, b.org ,a.org,A.ORG", .parsed("a.org,b.org")),
        .init(.hosts, "*.example.org", .parsed("*.example.org")),
        .init(.hosts, "example.com,test.com", .parsed("example.com,test.com")),
        .init(.hosts, "my_app.local,10.0.0.1", .parsed("my_app.local,10.0.0.1")),
        .init(.port, "8080", .parsed("8080")),
        .init(.port, " 80 ", .parsed("80")),
        .init(.port, "1", .parsed("1")),
        .init(.port, "65535", .parsed("65535")),
        .init(.network, "demo_demo-network", .parsed("demo_demo-network")),
        .init(.contextRoot, "/app", .parsed("/app")),
        .init(.contextRoot, "/app/", .parsed("/app")),
        .init(.contextRoot, "/app//", .parsed("/app")),
        .init(.contextRoot, "/api/v1", .parsed("/api/v1")),
        .init(.contextRoot, "/a/./b/../c", .parsed("/a/c")),
        .init(.contextRoot, "/", .parsed("/")),
        .init(.contextRootRewrite, "true", .parsed("true")),
        .init(.contextRootRewrite, "false", .parsed("false")),
        .init(.sslCert, "example.com.cert", .parsed("example.com.cert")),
        .init(.sslKey, "demo_app.example.org.key", .parsed("demo_app.example.org.key")),
        .init(.sslPassthrough, "false", .parsed("false")),
        .init(.sslOnly, "0", .parsed("false")),
        .init(.websocketEndpoints, "/ws,/foo", .parsed("/ws,/foo")),
        .init(.websocketEndpoints, "/ws, ", .parsed("/ws")),
        .init(.serviceCluster, "us-east", .parsed("us-east")),
        .init(.serviceCluster, " us-west ", .parsed("us-west")),
        .init(.serviceCluster, "", .parsed("")),
        .init(.stickySessionCookie, "session", .parsed("session")),
        .init(.stickySessionCookie, "app_session", .parsed("app_session")),
        .init(.ipHash, "False", .parsed("false")),
        .init(.redirects, "http://old.local,http://new.local", .parsed("http://old.local → http://new.local")),
        .init(.redirects, "http://old.example.com,http://new.example.com;", .parsed("http://old.example.com → http://new.example.com")),
        .init(.redirects, "http://Old.Local:8080/,http://new.local/base/", .parsed("http://old.local → http://new.local/base")),
        .init(.redirects, "http://a.local,http://b.local; http://c.local,https://c.local",
              .parsed("http://a.local → http://b.local; http://c.local → https://c.local")),
        .init(.backendMode, "task", .parsed("task")),
        .init(.backendMode, "vip", .parsed("vip")),
        .init(.backendMode, "default", .parsed("task")),
        .init(.backendMode, "", .parsed("task")),
        .init(.defaultBackend, "false", .parsed("false")),
        .init(.maxFails, "3", .parsed("3")),
        .init(.maxFails, "0", .parsed("0")),
        .init(.failTimeout, "10s", .parsed("10.0 seconds")),
        .init(.failTimeout, "1m30s", .parsed("90.0 seconds")),
        .init(.failTimeout, "500ms", .parsed("0.5 seconds")),
        .init(.failTimeout, "10", .parsed("10.0 seconds")),
        .init(.weight, "0", .parsed("0")),
        .init(.weight, " 90 ", .parsed("90")),
        .init(.weight, "10000", .parsed("10000")),
        .init(.weight, "007", .parsed("7")),
        .init(.balance, "least_conn", .parsed("least_conn")),
        .init(.balance, "Round_Robin", .parsed("round_robin")),
        .init(.balance, "", .parsed("-")),
        .init(.connectTimeout, "2s", .parsed("connect=2s")),
        .init(.readTimeout, "500ms", .parsed("read=500ms")),
        .init(.sendTimeout, "1m", .parsed("send=60s")),
        .init(.clientBodyTimeout, "30s", .parsed("client_body=30s")),
        .init(.keepaliveTimeout, "5s", .parsed("keepalive=5s")),
        .init(.upstreamIdleTimeout, "90s", .parsed("upstream_idle=90s")),
        .init(.maxBodySize, "10m", .parsed("max_body=10485760")),
        .init(.maxBodySize, "0", .parsed("max_body=0")),
        .init(.responseHeaderTimeout, "15s", .parsed("response_header=15s")),
        .init(.maxConnections, "32", .parsed("max_conns=32")),
        .init(.maxConnections, "0", .parsed("")),
        .init(.healthPath, "/healthz?deep=1", .parsed("health GET /healthz?deep=1 every 10s timeout 2s expects 200-399")),
        .init(.healthInterval, "3s", .parsed("health GET /healthz every 3s timeout 2s expects 200-399")),
        .init(.healthTimeout, "1s", .parsed("timeout 1000ms")),
        .init(.healthStatus, "204", .parsed("health GET /healthz every 10s timeout 2s expects 204")),
        .init(.healthStatus, "200-299", .parsed("health GET /healthz every 10s timeout 2s expects 200-299")),
    ]

    static let invalidCases: [LabelValueCase] = [
        .init(.hosts, "", .error("no host names")),
        .init(.hosts, " , ", .error("no host names")),
        .init(.hosts, "app.example.org:8080", .error("\"app.example.org:8080\" carries a port")),
        .init(.hosts, "good.org,bad.org:80", .error("\"bad.org:80\" carries a port")),
        .init(.hosts, "[::1]", .error("\"[::1]\"")),
        .init(.hosts, "*.*.example.org", .error("wildcard that is not a leading")),
        .init(.hosts, "app*.example.org", .error("wildcard that is not a leading")),
        .init(.hosts, "*example.org", .error("wildcard that is not a leading")),
        .init(.hosts, "example.*", .error("wildcard that is not a leading")),
        .init(.hosts, "*.", .error("is not a host name")),
        .init(.hosts, "-bad.org", .error("is not a host name")),
        .init(.hosts, "a..b", .error("is not a host name")),
        .init(.hosts, "http://app.example.org", .error("carries a port")),
        .init(.hosts, "app.example.org/path", .error("is not a host name")),
        .init(.hosts, "bad host", .error("is not a host name")),
        .init(.port, "80x", .error("not a port number")),
        .init(.port, "0", .error("not a port number")),
        .init(.port, "65536", .error("not a port number")),
        .init(.port, "-1", .error("not a port number")),
        .init(.port, "+80", .error("not a port number")),
        .init(.port, "8 0", .error("not a port number")),
        .init(.port, "", .error("not a port number")),
        .init(.port, "080080", .error("not a port number")),
        .init(.network, " ", .error("empty network name")),
        .init(.contextRoot, "app", .error("not an absolute path")),
        .init(.contextRoot, "app/", .error("not an absolute path")),
        .init(.contextRoot, "", .error("not an absolute path")),
        .init(.contextRoot, "/app?x=1", .error("no query or fragment")),
        .init(.contextRoot, "/app#top", .error("no query or fragment")),
        .init(.contextRoot, "/my app", .error("outside printable ASCII")),
        .init(.contextRootRewrite, "yes", .error("not a boolean")),
        .init(.contextRootRewrite, "on", .error("not a boolean")),
        .init(.contextRootRewrite, "", .error("not a boolean")),
        .init(.sslCert, "certs/web.cert", .error("not a Docker secret name")),
        .init(.sslKey, "", .error("not a Docker secret name")),
        .init(.sslPassthrough, "enabled", .error("not a boolean")),
        .init(.sslOnly, "tru", .error("not a boolean")),
        .init(.websocketEndpoints, "ws", .error("\"ws\": not an absolute path")),
        .init(.websocketEndpoints, "/ws,/chat?room=1", .error("\"/chat?room=1\": a path has no query")),
        .init(.stickySessionCookie, "app session", .error("not a cookie name")),
        .init(.stickySessionCookie, "a=b", .error("not a cookie name")),
        .init(.stickySessionCookie, "a;b", .error("not a cookie name")),
        .init(.stickySessionCookie, "", .error("not a cookie name")),
        .init(.stickySessionCookie, "sessión", .error("not a cookie name")),
        .init(.ipHash, "2", .error("not a boolean")),
        .init(.redirects, "", .error("no redirect")),
        .init(.redirects, ";", .error("no redirect")),
        .init(.redirects, "http://old.local", .error("\"http://old.local\" is not a redirect")),
        .init(.redirects, "http://a.local,http://b.local,http://c.local", .error("is not a redirect")),
        .init(.redirects, "old.local,new.local", .error("is not a redirect")),
        .init(.redirects, "http://old.local/path,http://new.local", .error("a source has no path")),
        .init(.redirects, "http://old.local,ftp://new.local", .error("is not a redirect")),
        .init(.redirects, "http://,http://new.local", .error("is not a redirect")),
        .init(.redirects, "http://*.old.local,http://new.local", .error("is not a redirect")),
        .init(.redirects, "http://old.local:99999,http://new.local", .error("is not a redirect")),
        .init(.redirects, "http://old.local,http://new local", .error("is not a redirect")),
        .init(.redirects, "http://a.local,http://b.local;http://c.local", .error("\"http://c.local\" is not a redirect")),
        .init(.backendMode, "foo", .error("unknown backend mode")),
        .init(.backendMode, "VIP", .error("unknown backend mode")),
        .init(.defaultBackend, "yes", .error("not a boolean")),
        .init(.maxFails, "-1", .error("not a non-negative integer")),
        .init(.maxFails, "three", .error("not a non-negative integer")),
        .init(.maxFails, "1000000", .error("not a non-negative integer")),
        .init(.failTimeout, "10x", .error("not a duration")),
        .init(.failTimeout, "", .error("not a duration")),
        .init(.failTimeout, "s", .error("not a duration")),
        .init(.failTimeout, "1.5s", .error("not a duration")),
        .init(.failTimeout, "-1s", .error("not a duration")),
        .init(.failTimeout, "10 s", .error("not a duration")),
        .init(.proxyProtocol, "v3", .error("unknown PROXY protocol version")),
        .init(.upstreamProtocol, "grpc", .error("unknown upstream protocol; use http1 or h2c")),
        .init(.sslCert, "certs/a.pem", .error("not a Docker secret name")),
        .init(.weight, "10001", .error("not a weight; use an integer from 0 to 10000")),
        .init(.weight, "-1", .error("not a weight; use an integer from 0 to 10000")),
        .init(.weight, "1.5", .error("not a weight; use an integer from 0 to 10000")),
        .init(.weight, "", .error("not a weight; use an integer from 0 to 10000")),
        .init(.weight, "+5", .error("not a weight; use an integer from 0 to 10000")),
        .init(.weight, "100000", .error("not a weight; use an integer from 0 to 10000")),
        .init(.weight, "50%", .error("not a weight; use an integer from 0 to 10000")),
        .init(.balance, "leastconn", .error("unknown balancing policy; use round_robin or least_conn")),
        .init(.balance, "ip_hash", .error("unknown balancing policy; use round_robin or least_conn")),
        .init(.balance, "random", .error("unknown balancing policy; use round_robin or least_conn")),
        .init(.connectTimeout, "0s", .error("not a duration; use nginx syntax such as 30s, 500ms or 2m (more than 0)")),
        .init(.readTimeout, "soon", .error("not a duration")),
        .init(.sendTimeout, "", .error("not a duration")),
        .init(.clientBodyTimeout, "-1s", .error("not a duration")),
        .init(.keepaliveTimeout, "1y", .error("not a duration")),
        .init(.upstreamIdleTimeout, "10 s", .error("not a duration")),
        .init(.maxBodySize, "ten", .error("not a size; use a byte count with an optional k, m or g suffix")),
        .init(.responseHeaderTimeout, "0s", .error("not a duration")),
        .init(.maxConnections, "-3", .error("not a connection count")),
        .init(.healthPath, "healthz", .error("not an absolute path")),
        .init(.healthInterval, "50ms", .error("not a duration of at least 100ms")),
        .init(.healthTimeout, "x", .error("not a duration of at least 100ms")),
        .init(.healthStatus, "600", .error("not a status or range of statuses; use 200 or 200-399")),
        .init(.healthStatus, "300-200", .error("not a status or range of statuses")),
    ]

    /// The parsed field for `key`, as text.
    static func field(_ key: LabelKey, _ l: Labels) -> String {
        switch key {
        case .hosts: return l.hosts.map(\.description).joined(separator: ",")
        case .port: return l.port.map(String.init) ?? "-"
        case .network: return l.network ?? "-"
        case .contextRoot: return l.contextRoot
        case .contextRootRewrite: return "\(l.contextRootRewrite)"
        case .sslCert: return l.sslCert ?? "-"
        case .sslKey: return l.sslKey ?? "-"
        case .sslPassthrough: return "\(l.sslPassthrough)"
        case .sslOnly: return "\(l.sslOnly)"
        case .websocketEndpoints: return l.websocketEndpoints.joined(separator: ",")
        case .serviceCluster: return l.serviceCluster
        case .stickySessionCookie: return l.stickySessionCookie ?? "-"
        case .ipHash: return "\(l.ipHash)"
        case .proxyProtocol: return l.proxyProtocol?.rawValue ?? "-"
        case .upstreamProtocol: return l.upstreamProtocol.rawValue
        case .redirects:
            return l.redirects.map { "\($0.sourceScheme)://\($0.sourceHost) → \($0.target)" }.joined(separator: "; ")
        case .backendMode: return l.backendMode.rawValue
        case .defaultBackend: return "\(l.defaultBackend)"
        case .maxFails: return l.maxFails.map(String.init) ?? "-"
        case .failTimeout: return l.failTimeout.map { "\($0)" } ?? "-"
        case .weight: return l.weight.map(String.init) ?? "-"
        case .balance: return l.balance.map { "\($0)" } ?? "-"
        case .connectTimeout, .readTimeout, .sendTimeout, .clientBodyTimeout, .keepaliveTimeout, .upstreamIdleTimeout, .maxBodySize,
             .responseHeaderTimeout, .maxConnections:
            return l.limits.description
        case .healthPath, .healthInterval, .healthStatus: return l.activeHealth.map { "\($0)" } ?? "-"
        case .healthTimeout:
            return l.activeHealth.map { "timeout \($0.timeout.components.seconds * 1000 + $0.timeout.components.attoseconds / 1_000_000_000_000_000)ms" } ?? "-"
        }
    }

    @Test("every label key has valid and invalid cases")
    func coverage() {
        #expect(Set(Self.validCases.map(\.key)) == Set(LabelKey.allCases))
        // Any service cluster name is accepted: there is no invalid one.
        #expect(Set(Self.invalidCases.map(\.key)) == Set(LabelKey.allCases).subtracting([.serviceCluster]))
    }

    @Test("valid values are parsed without errors", arguments: validCases)
    func valid(_ c: LabelValueCase) throws {
        let (labels, issues) = Labels.parse(service: "web", labels: c.labels)
        #expect(issues.filter { $0.severity == .error } == [])
        let parsed = try #require(labels)
        guard case .parsed(let expected) = c.outcome else { return }
        #expect(Self.field(c.key, parsed) == expected)
    }

    @Test("invalid values reject the service with one error naming service, key, value and reason", arguments: invalidCases)
    func invalid(_ c: LabelValueCase) throws {
        let (labels, issues) = Labels.parse(service: "web", labels: c.labels)
        #expect(labels == nil)
        let errors = issues.filter { $0.severity == .error }
        let error = try #require(errors.first)
        #expect(errors.count == 1, "\(errors)")
        guard case .error(let fragment) = c.outcome else { return }
        #expect(error.service == "web")
        #expect(error.key == c.key.label)
        #expect(error.value == c.value)
        #expect(error.reason.contains(fragment), "\(error.reason)")
        #expect(error.description.hasPrefix("error: service \"web\": \(c.key.label)=\"\(c.value)\": "))
    }

    @Test(
        "booleans follow Go's strconv.ParseBool, as Interlock did",
        arguments: [
            ("true", true), ("True", true), ("TRUE", true), ("t", true), ("T", true), ("1", true), (" true ", true),
            ("false", false), ("False", false), ("FALSE", false), ("f", false), ("F", false), ("0", false),
        ] as [(String, Bool)])
    func booleans(text: String, expected: Bool) throws {
        for key in [LabelKey.contextRootRewrite, .sslPassthrough, .sslOnly, .ipHash, .defaultBackend] {
            let (labels, _) = Labels.parse(service: "web", labels: [LabelKey.hosts.label: "a.org", key.label: text])
            #expect(Self.field(key, try #require(labels)) == "\(expected)")
        }
    }

    @Test("every problem is reported, not only the first")
    func allProblems() {
        let (labels, issues) = Labels.parse(service: "web", labels: Fixture.lb([
            "hosts": "ok.org,bad.org:80", "port": "80x", "backend_mode": "foo", "context_root": "app",
            "sticky_session_cookie": "a b",
        ]))
        #expect(labels == nil)
        #expect(issues.filter { $0.severity == .error }.map(\.key) == [
            "com.docker.lb.backend_mode", "com.docker.lb.context_root", "com.docker.lb.hosts", "com.docker.lb.port",
            "com.docker.lb.sticky_session_cookie",
        ])
    }

    @Test("hosts are needed unless the service is the default backend or only redirects")
    func missingHosts() throws {
        let (none, issues) = Labels.parse(service: "web", labels: Fixture.lb(["port": "80"]))
        #expect(none == nil)
        #expect(issues.map(\.description) == [
            #"error: service "web": com.docker.lb.hosts="": missing: a routed service needs com.docker.lb.hosts (or com.docker.lb.default_backend=true)"#,
        ])
        let (fallback, _) = Labels.parse(service: "web", labels: Fixture.lb(["port": "80", "default_backend": "true"]))
        #expect(try #require(fallback).defaultBackend)
        let (redirectOnly, _) = Labels.parse(service: "web", labels: Fixture.lb(["redirects": "http://a.org,http://b.org"]))
        #expect(try #require(redirectOnly).redirects.count == 1)
    }

    @Test("ssl_cert and ssl_key go together")
    func certificatePair() {
        let (labels, issues) = Labels.parse(service: "web", labels: Fixture.lb(["hosts": "a.org", "ssl_cert": "a.cert"]))
        #expect(labels == nil)
        #expect(issues.filter { $0.severity == .error }.map(\.description) == [
            #"error: service "web": com.docker.lb.ssl_cert="a.cert": ssl_cert and ssl_key must be given together"#,
        ])
        let (keyOnly, keyIssues) = Labels.parse(service: "web", labels: Fixture.lb(["hosts": "a.org", "ssl_key": "a.key"]))
        #expect(keyOnly == nil)
        #expect(keyIssues.map(\.description) == [
            #"error: service "web": com.docker.lb.ssl_key="a.key": ssl_cert and ssl_key must be given together"#,
        ])
    }

    @Test(
        "accepted labels of features that are not active yet, or without effect, warn, naming key and value",
        arguments: [
            (["ssl_cert": "a.cert", "ssl_key": "a.key", "ssl_passthrough": "true"], "ssl_cert", "a.cert", "has no effect with com.docker.lb.ssl_passthrough"),
            (["pier.proxy_protocol": "v2"], "pier.proxy_protocol", "v2", "has no effect without com.docker.lb.ssl_passthrough"),
            (["websocket_endpoints": "/ws,/chat", "ssl_passthrough": "true"], "websocket_endpoints", "/ws,/chat", "has no effect with com.docker.lb.ssl_passthrough"),
            (["websocket_endpoints": "/ws", "pier.upstream_protocol": "h2c"], "websocket_endpoints", "/ws", "cannot be forwarded to an h2c upstream"),
            (["sticky_session_cookie": "s", "ip_hash": "1"], "ip_hash", "1",
             "has no effect with com.docker.lb.sticky_session_cookie, which takes precedence"),
            (["sticky_session_cookie": "s", "pier.balance": "least_conn"], "pier.balance", "least_conn",
             "has no effect with com.docker.lb.sticky_session_cookie, which takes precedence"),
            (["ip_hash": "true", "pier.balance": "round_robin"], "pier.balance", "round_robin",
             "has no effect with com.docker.lb.ip_hash=true, which takes precedence"),
            (["ssl_passthrough": "true", "sticky_session_cookie": "s"], "sticky_session_cookie", "s",
             "has no effect with com.docker.lb.ssl_passthrough=true: Pier does not see cookies inside TLS it relays; com.docker.lb.ip_hash can pin clients instead"),
            (["context_root_rewrite": "true"], "context_root_rewrite", "true", "no effect without com.docker.lb.context_root"),
            (["ssl_backend": "true"], "ssl_backend", "true", "upstream TLS is not supported"),
            (["ssl_backend_tls_verify": "none"], "ssl_backend_tls_verify", "none", "upstream TLS is not supported"),
        ] as [([String: String], String, String, String)])
    func warnings(extra: [String: String], key: String, value: String, fragment: String) throws {
        var pairs = extra
        pairs["hosts"] = "a.org"
        let (labels, issues) = Labels.parse(service: "web", labels: Fixture.lb(pairs))
        #expect(labels != nil)
        let warning = try #require(issues.first)
        #expect(issues.count == 1, "\(issues)")
        #expect(warning.severity == .warning)
        #expect(warning.service == "web")
        #expect(warning.key == Fixture.label(key))
        #expect(warning.value == value)
        #expect(warning.reason.contains(fragment), "\(warning.reason)")
    }

    @Test("labels outside com.docker.lb. are not read; a service without any is not routed")
    func otherLabels() {
        let foreign = ["com.docker.stack.namespace": "demo", "traefik.http.routers.x.rule": "Host(`a`)", "com.docker.lbx": "1"]
        #expect(!Labels.isRouted(foreign))
        #expect(!Labels.isRouted([:]))
        #expect(Labels.isRouted(foreign.merging(Fixture.lb(["hosts": "a.org"])) { a, _ in a }))
        let (labels, issues) = Labels.parse(service: "web", labels: foreign.merging(Fixture.lb(["hosts": "a.org"])) { a, _ in a })
        #expect(labels?.hosts == [.exact("a.org")])
        #expect(issues.isEmpty)
    }

    @Test("defaults when a label is absent")
    func defaults() throws {
        let (parsed, issues) = Labels.parse(service: "web", labels: Fixture.lb(["hosts": "a.org"]))
        let labels = try #require(parsed)
        #expect(issues.isEmpty)
        #expect(labels.port == nil)
        #expect(labels.contextRoot == "/")
        #expect(!labels.contextRootRewrite)
        #expect(labels.backendMode == .task)
        #expect(labels.serviceCluster == "")
        #expect(!labels.defaultBackend)
        #expect(labels.redirects.isEmpty)
    }
}
