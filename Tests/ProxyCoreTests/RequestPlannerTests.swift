import NIOHTTP1
import RouteModel
import Testing

@testable import ProxyCore

@Suite("Request planner: entrypoints")
struct RequestPlannerTests {
    static let pool = BackendPool(id: 0, services: ["web"], endpoints: [Endpoint(host: "10.0.0.1", port: 80)])

    static func table(publishedHTTPSPort: Int? = nil) -> RouteTable {
        var settings = ProxySettings()
        settings.publishedHTTPSPort = publishedHTTPSPort
        let cert = TLSCertificate(name: "web.crt+web.key", certificatePEM: "C", privateKeyPEM: "K")
        return RouteTable(generation: 1, content: .init(
            routes: [
                Route(host: .exact("web.test"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 0), services: ["web"], schemes: .https),
                Route(host: .exact("web.test"), contextRoot: "/", stripContextRoot: false, action: .redirectToHTTPS, services: ["web"], schemes: .http),
                Route(host: .exact("other.test"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 0), services: ["web"]),
            ],
            pools: [pool], defaultRoute: nil, settings: settings,
            tls: TLSTable(entries: [.exact("web.test"): .terminate(cert)])))
    }

    static func plan(_ table: RouteTable, host: String, method: HTTPMethod = .GET, _ downstream: Downstream) -> RequestPlan {
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: "/p?q=1", headers: ["host": host])
        return RequestPlanner.plan(head, table: table, requestID: "r", clientIP: "192.0.2.1", downstream: downstream,
                                   upgrade: UpgradeRequest(head)) { pool, _ in pool.endpoints.first }
    }

    static let https = Downstream(scheme: .https, port: 8443, httpsPort: 8443, tls: .init(serverName: "web.test", certificateName: "web.crt+web.key"))

    @Test("X-Forwarded-Port: the entrypoint's port, or PublishedSSLPort on HTTPS when set")
    func forwardedPort() {
        for (published, expected) in [(nil, "8443"), (443, "443")] as [(Int?, String)] {
            guard case .forward(let forward) = Self.plan(Self.table(publishedHTTPSPort: published), host: "web.test", Self.https) else {
                Issue.record("expected a forward")
                continue
            }
            #expect(forward.upstreamHead.headers["x-forwarded-port"] == [expected])
            #expect(forward.upstreamHead.headers["x-forwarded-proto"] == ["https"])
        }
        let plain = Downstream(scheme: .http, port: 8080, httpsPort: 8443, tls: nil)
        guard case .forward(let forward) = Self.plan(Self.table(publishedHTTPSPort: 443), host: "other.test", plain) else {
            Issue.record("expected a forward")
            return
        }
        #expect(forward.upstreamHead.headers["x-forwarded-port"] == ["8080"])
        #expect(forward.upstreamHead.headers["x-forwarded-proto"] == ["http"])
    }

    @Test("redirect to HTTPS names PublishedSSLPort, else the HTTPS entrypoint's port; 443 is left out; 308 keeps other methods")
    func redirectPort() {
        let plain = Downstream(scheme: .http, port: 8080, httpsPort: 8443, tls: nil)
        let cases: [(Int?, HTTPMethod, String, UInt)] = [
            (nil, .GET, "https://web.test:8443/p?q=1", 301), (443, .GET, "https://web.test/p?q=1", 301),
            (9443, .HEAD, "https://web.test:9443/p?q=1", 301), (nil, .POST, "https://web.test:8443/p?q=1", 308),
        ]
        for (published, method, location, status) in cases {
            guard case .answer(let response, false, _) = Self.plan(Self.table(publishedHTTPSPort: published), host: "WEB.test:8080", method: method, plain) else {
                Issue.record("expected a redirect")
                continue
            }
            #expect(response.status.code == status)
            #expect(response.headers["location"] == [location])
        }
    }

    @Test("421 for a host served with another certificate; the SNI name itself and same-certificate hosts pass")
    func misdirected() {
        let other = Downstream(scheme: .https, port: 8443, httpsPort: 8443, tls: .init(serverName: "unknown.test", certificateName: "default"))
        guard case .answer(let response, false, _) = Self.plan(Self.table(), host: "web.test", other) else {
            Issue.record("expected 421")
            return
        }
        #expect(response.status == .misdirectedRequest)
        #expect(response.cause == FailureCause(.misdirected))
        if case .answer = Self.plan(Self.table(), host: "web.test", Self.https) { Issue.record("same name must pass") }
    }

    @Test("every refusal of the planner is a cause, the status derives from it, and the matched route is kept", arguments: [
        ("nobody.test", "/", [], FailureCause.Kind.noRoute, false),
        ("api.test", "/elsewhere", [], .noContextRoot, false),
        ("api.test", "/api", [("Expect", "something")], .expectationFailed, false),
        ("api.test", "ftp://api.test/api", [], .malformedRequest, false),
        ("api.test", "/api", [("Host", "again.test")], .malformedRequest, false),
        ("api.test", "/api/x", [], .noEndpoint, true),
    ] as [(String, String, [(String, String)], FailureCause.Kind, Bool)])
    func refusalCauses(host: String, target: String, headers: [(String, String)], kind: FailureCause.Kind, routed: Bool) {
        let pool = BackendPool(id: 0, services: ["api"], endpoints: [])
        let table = RouteTable(generation: 1, content: .init(
            routes: [Route(host: .exact("api.test"), contextRoot: "/api", stripContextRoot: false, action: .proxy(pool: 0), services: ["api"])],
            pools: [pool], defaultRoute: nil, settings: ProxySettings()))
        var fields = HTTPHeaders([("Host", host)])
        fields.add(contentsOf: headers)
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: fields)
        let plan = RequestPlanner.plan(head, table: table, requestID: "r", clientIP: nil, downstream: .http, upgrade: UpgradeRequest(head)) { _, _ in nil }
        guard case .answer(let response, _, let route) = plan else {
            Issue.record("expected an answer")
            return
        }
        #expect(response.cause == FailureCause(kind))
        #expect(response.status.code == UInt(kind.status ?? 0))
        #expect((route?.contextRoot == "/api") == routed)
    }
}
