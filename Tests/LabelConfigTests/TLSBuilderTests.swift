import LabelConfig
import RouteModel
import Testing

@Suite("Route table builder: HTTPS entrypoint")
struct TLSBuilderTests {
    typealias S = Fixture

    static let webCert = TLSCertificate(name: "web.crt+web.key", certificatePEM: "CERT-web", privateKeyPEM: "KEY-web-secret")
    static let otherCert = TLSCertificate(name: "other.crt+other.key", certificatePEM: "CERT-other", privateKeyPEM: "KEY-other-secret")
    static let fallbackCert = TLSCertificate(name: "default.crt+default.key", certificatePEM: "CERT-default", privateKeyPEM: "KEY-default")

    /// Knows `web` and `other`; `stale` has a problem but a previous good certificate.
    struct Source: CertificateSource {
        func load(_ names: CertificateNames) -> CertificateLoad {
            switch names.certificate {
            case "web.crt": return CertificateLoad(certificate: TLSBuilderTests.webCert, problem: nil)
            case "other.crt": return CertificateLoad(certificate: TLSBuilderTests.otherCert, problem: nil)
            case "default.crt": return CertificateLoad(certificate: TLSBuilderTests.fallbackCert, problem: nil)
            case "stale.crt": return CertificateLoad(certificate: TLSBuilderTests.webCert, problem: "the private key does not belong to the certificate")
            default: return CertificateLoad(certificate: nil, problem: "cannot read /run/secrets/\(names.certificate)")
            }
        }
    }

    static func build(_ services: [ServiceDescription], defaultCertificate: CertificateNames? = nil) -> RouteTableBuilder.Result {
        RouteTableBuilder(certificates: Source(), defaultCertificate: defaultCertificate).build(services, generation: 1)
    }

    static func tls(_ labels: [String: String]) -> [String: String] {
        var pairs = labels
        pairs["ssl_cert"] = pairs["ssl_cert"] ?? "web.crt"
        pairs["ssl_key"] = pairs["ssl_key"] ?? "web.key"
        return S.lb(pairs)
    }

    static func summary(_ decision: TLSDecision) -> String {
        switch decision {
        case .terminate(let certificate): return "terminate \(certificate.name)"
        case .passthrough(let pool, let proxyProtocol): return "passthrough \(pool.services.joined(separator: "+"))" + (proxyProtocol.map { " \($0)" } ?? "")
        case .reject: return "reject"
        }
    }

    @Test("ssl_cert/ssl_key: each host of the service presents its certificate; other names are refused without a default")
    func terminate() {
        let result = Self.build([
            S.service("web", Self.tls(["hosts": "web.local,*.web.local", "port": "80"])),
            S.service("other", Self.tls(["hosts": "other.local", "port": "80", "ssl_cert": "other.crt", "ssl_key": "other.key"])),
            S.service("plain", S.lb(["hosts": "plain.local", "port": "80"])),
        ])
        #expect(result.issues.isEmpty)
        let cases: [(String?, String)] = [
            ("web.local", "terminate web.crt+web.key"), ("WEB.local.", "terminate web.crt+web.key"),
            ("a.b.web.local", "terminate web.crt+web.key"), ("other.local", "terminate other.crt+other.key"),
            ("plain.local", "reject"), ("unknown.local", "reject"), (nil, "reject"),
        ]
        for (name, expected) in cases {
            #expect(Self.summary(result.table.decideTLS(serverName: name)) == expected, "\(name ?? "no SNI")")
        }
        // The services still route plain HTTP and HTTPS alike.
        #expect(result.table.decide(host: "web.local", target: "/", scheme: .http).summary == "forward web /")
        #expect(result.table.decide(host: "web.local", target: "/", scheme: .https).summary == "forward web /")
    }

    @Test("a default certificate takes handshakes without SNI or with an unknown name, and names the hosts it covers")
    func defaultCertificate() {
        let result = Self.build([
            S.service("web", Self.tls(["hosts": "web.local", "port": "80"])),
            S.service("plain", S.lb(["hosts": "plain.local", "port": "80"])),
        ], defaultCertificate: CertificateNames(certificate: "default.crt", key: "default.key"))
        #expect(Self.summary(result.table.decideTLS(serverName: nil)) == "terminate default.crt+default.key")
        #expect(Self.summary(result.table.decideTLS(serverName: "unknown.local")) == "terminate default.crt+default.key")
        #expect(Self.summary(result.table.decideTLS(serverName: "web.local")) == "terminate web.crt+web.key")
        // Misdirection is judged by certificate name: plain.local is served with the default certificate.
        #expect(result.table.certificateName(forHost: "plain.local") == "default.crt+default.key")
        #expect(result.table.certificateName(forHost: "web.local") == "web.crt+web.key")
    }

    @Test("an unreadable certificate is an error naming key, value and reason; the service still routes plain HTTP")
    func unreadable() {
        let result = Self.build([S.service("web", Self.tls(["hosts": "web.local", "port": "80", "ssl_cert": "gone.crt", "ssl_key": "gone.key"]))])
        #expect(result.issues.map(\.description) == [
            #"error: service "web": com.docker.lb.ssl_cert="gone.crt+gone.key": cannot read /run/secrets/gone.crt"#,
        ])
        #expect(Self.summary(result.table.decideTLS(serverName: "web.local")) == "reject")
        #expect(result.table.decide(host: "web.local", target: "/").summary == "forward web /")
    }

    @Test("a broken new certificate is a warning and the previous one stays in use")
    func previousKept() {
        let result = Self.build([S.service("web", Self.tls(["hosts": "web.local", "port": "80", "ssl_cert": "stale.crt", "ssl_key": "stale.key"]))])
        #expect(result.issues.map(\.description) == [
            #"warning: service "web": com.docker.lb.ssl_cert="stale.crt+stale.key": the private key does not belong to the certificate; the previous certificate stays in use"#,
        ])
        #expect(Self.summary(result.table.decideTLS(serverName: "web.local")) == "terminate web.crt+web.key")
    }

    @Test("ssl_only: plain HTTP answers a permanent redirect to HTTPS (context root kept); HTTPS proxies")
    func sslOnly() {
        let result = Self.build([
            S.service("web", Self.tls(["hosts": "web.local", "port": "80", "ssl_only": "true"])),
            S.service("app", Self.tls(["hosts": "shared.local", "port": "80", "ssl_only": "true", "context_root": "/app"])),
            S.service("root", S.lb(["hosts": "shared.local", "port": "80"])),
        ])
        #expect(result.issues.isEmpty)
        #expect(result.table.decide(host: "web.local", target: "/p?q=1", scheme: .http).summary == "https web.local/p?q=1")
        #expect(result.table.decide(host: "Web.Local:8080", target: "/", scheme: .http).summary == "https web.local/")
        #expect(result.table.decide(host: "web.local", target: "/p?q=1", scheme: .https).summary == "forward web /p?q=1")
        #expect(result.table.decide(host: "shared.local", target: "/app/x", scheme: .http).summary == "https shared.local/app/x")
        #expect(result.table.decide(host: "shared.local", target: "/other", scheme: .http).summary == "forward root /other")
        #expect(result.table.decide(host: "shared.local", target: "/app/x", scheme: .https).summary == "forward app /app/x")
    }

    @Test("ssl_only without any certificate for the host warns that HTTPS cannot answer")
    func sslOnlyWithoutCertificate() {
        let result = Self.build([S.service("web", S.lb(["hosts": "web.local", "port": "80", "ssl_only": "true"]))])
        #expect(result.issues.map(\.description) == [
            #"warning: service "web": com.docker.lb.ssl_only="true": plain HTTP for web.local redirects to HTTPS, but no certificate covers it there (no ssl_cert/ssl_key and no default certificate)"#,
        ])
    }

    @Test("a redirect from https without any certificate for its source warns")
    func httpsRedirectWithoutCertificate() {
        let result = Self.build([S.service("web", S.lb(["hosts": "new.local", "port": "80", "redirects": "https://old.local,https://new.local"]))])
        #expect(result.issues.map(\.description) == [
            #"warning: service "web": com.docker.lb.redirects="https://old.local": the redirect applies on the HTTPS entrypoint, but no certificate covers old.local there (no ssl_cert/ssl_key on the service and no default certificate)"#,
        ])
    }

    @Test("redirects from https apply on the HTTPS entrypoint, with the service's certificate for the source host")
    func httpsRedirects() {
        let result = Self.build([
            S.service("web", Self.tls(["hosts": "new.local", "port": "80", "redirects": "https://old.local,https://new.local"])),
        ])
        #expect(result.issues.isEmpty)
        #expect(result.table.decide(host: "old.local", target: "/a?b", scheme: .https).summary == "302 https://new.local/a?b")
        #expect(result.table.decide(host: "old.local", target: "/a", scheme: .http).summary == "503")
        #expect(Self.summary(result.table.decideTLS(serverName: "old.local")) == "terminate web.crt+web.key")
    }

    @Test("TLS conflicts: another certificate for a taken host loses with an error; the same certificate is no conflict")
    func conflicts() {
        let result = Self.build([
            S.service("a-web", Self.tls(["hosts": "web.local", "port": "80"])),
            S.service("b-canary", Self.tls(["hosts": "web.local", "port": "80"])),
            S.service("c-other", Self.tls(["hosts": "web.local", "port": "80", "ssl_cert": "other.crt", "ssl_key": "other.key"])),
            S.service("d-pt", S.lb(["hosts": "web.local", "port": "443", "ssl_passthrough": "true"])),
        ])
        #expect(Self.summary(result.table.decideTLS(serverName: "web.local")) == "terminate web.crt+web.key")
        #expect(result.issues.map(\.description).sorted() == [
            #"error: service "c-other": com.docker.lb.ssl_cert="web.local": conflict: TLS for host web.local is already handled by service "a-web"; this claim is ignored"#,
            #"error: service "d-pt": com.docker.lb.ssl_passthrough="web.local": conflict: TLS for host web.local is already handled by service "a-web"; this claim is ignored"#,
        ])
        #expect(result.statuses.first { $0.service == "d-pt" }?.description == "d-pt: not routed: see its errors")
    }

    @Test("passthrough canary: services sharing a host share one pool; the PROXY protocol label is carried")
    func passthroughCanary() {
        let result = Self.build([
            S.service("pt-v1", S.lb(["hosts": "pt.local", "port": "443", "ssl_passthrough": "true", "pier.proxy_protocol": "v2"]), ["10.0.0.1", "10.0.0.2"]),
            S.service("pt-v2", S.lb(["hosts": "pt.local", "port": "443", "ssl_passthrough": "true"]), ["10.0.0.3"]),
        ])
        #expect(result.issues.isEmpty)
        guard case .passthrough(let pool, .v2) = result.table.decideTLS(serverName: "pt.local") else {
            Issue.record("expected passthrough with PROXY v2")
            return
        }
        #expect(pool.endpoints.map(\.description) == ["10.0.0.1:443", "10.0.0.2:443", "10.0.0.3:443"])
    }

    @Test("upstream protocol: h2c when every service of the pool asks for it; a mixed pool speaks HTTP/1.1 and says so")
    func upstreamProtocol() {
        let result = Self.build([
            S.service("grpc", S.lb(["hosts": "grpc.local", "port": "50051", "pier.upstream_protocol": "h2c"])),
            S.service("mixed-a", S.lb(["hosts": "mixed.local", "port": "80", "pier.upstream_protocol": "h2c"])),
            S.service("mixed-b", S.lb(["hosts": "mixed.local", "port": "80"])),
        ])
        guard case .forward(_, let grpc, _) = result.table.decide(host: "grpc.local", target: "/"),
              case .forward(_, let mixed, _) = result.table.decide(host: "mixed.local", target: "/") else {
            Issue.record("expected forwards")
            return
        }
        #expect(grpc.upstreamProtocol == .h2c)
        #expect(mixed.upstreamProtocol == .http1)
        #expect(result.issues.map(\.description) == [
            #"warning: service "mixed-a": com.docker.lb.pier.upstream_protocol="h2c": shares its route with services that speak HTTP/1.1; HTTP/1.1 is used for all of them"#,
        ])
        #expect(RouteTablePrinter.render(result.table).contains("grpc [10.0.0.1:50051] (h2c)"))
    }

    @Test("pier routes names certificates and never prints a private key")
    func printerHidesKeys() {
        let result = Self.build([
            S.service("web", Self.tls(["hosts": "web.local", "port": "80", "ssl_only": "true"])),
            S.service("pt", S.lb(["hosts": "pt.local", "port": "443", "ssl_passthrough": "true", "pier.proxy_protocol": "v1"]), ["10.0.0.5"]),
        ])
        let text = RouteTablePrinter.render(result.table)
        #expect(text.contains("terminate with certificate web.crt+web.key"))
        #expect(text.contains("passthrough to pt [10.0.0.5:443] with PROXY protocol v1"))
        #expect(text.contains("301 → https://<host><path> (http only)"))
        #expect(text.contains("(no or unknown SNI)  refuse (unrecognized_name)"))
        #expect(!text.contains("KEY-web-secret"))
        #expect(!text.contains("CERT-web"))
        #expect(!"\(Self.webCert)".contains("KEY"))
    }
}
