@testable import Admin
import Foundation
import LabelConfig
import Logging
import Publishing
import RouteModel
import Testing

/// `/api/explain` in the admin router: behind the token, its query read as `pier explain`'s options (400 with a
/// reason otherwise), and the answer the `Explainer`'s on the live publication and endpoint health, as JSON.
@Suite struct AdminExplainTests {
    func route(_ uri: String, method: String = "GET", authorization: String? = nil, token: String? = nil) -> Result<AdminEndpoint, AdminRefusal> {
        AdminRouter.route(AdminRequest(method: method, uri: uri, authorization: authorization), token: token)
    }

    func refusal(_ result: Result<AdminEndpoint, AdminRefusal>) -> AdminResponse? {
        if case .failure(let refusal) = result { return refusal.response }
        return nil
    }

    /// A publication of `web` on app.test (two endpoints) and `api` on api.test, rejected for its port label.
    static func publication() throws -> Publication {
        let publisher = Publisher(logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        publisher.publish(Build(inputs: BuildInputs(services: [
            ServiceDescription(name: "web", labels: ["com.docker.lb.hosts": "app.test", "com.docker.lb.port": "80"],
                               endpoints: [.init(host: "10.0.0.1", port: nil), .init(host: "10.0.0.2", port: nil)]),
            ServiceDescription(name: "api", labels: ["com.docker.lb.hosts": "api.test", "com.docker.lb.port": "80x"],
                               endpoints: [.init(host: "10.0.0.3", port: nil)]),
        ])))
        return try #require(publisher.latest)
    }

    @Test("401 without the token, before the query is read; the token's holder gets the 400 or the page")
    func token() throws {
        let token = "s3cr3t-token"
        for uri in ["/api/explain?url=http://app.test/", "/api/explain?bogus=1", "/api/explain"] {
            #expect(refusal(route(uri, token: token))?.status == 401, "\(uri)")
            #expect(refusal(route(uri, authorization: "Bearer wrong-token!", token: token))?.status == 401, "\(uri)")
        }
        #expect(refusal(route("/api/explain?bogus=1", authorization: "Bearer s3cr3t-token", token: token))?.status == 400)
        #expect(try route("/api/explain?url=http://app.test/", authorization: "Bearer s3cr3t-token", token: token).get()
            == .explain(ExplainRequest(url: "http://app.test/")!))
        #expect(refusal(route("/api/explain?url=http://app.test/", method: "POST"))?.status == 405)
    }

    @Test("bad parameters: 400 saying which")
    func badParameters() {
        let cases: [(String, String)] = [
            ("", "give url=http://host/path or host=NAME"),
            ("path=/x", "give url=http://host/path or host=NAME"),
            ("url=app.test/x", "url \"app.test/x\" is not an http:// or https:// URL with a host"),
            ("url=http://app.test/&method=G%20T", "method must be a method name such as GET"),
            ("url=http://app.test/&https=yes", "https must be 1 or 0, not \"yes\""),
            ("url=http://a.test/&url=http://b.test/", "url given twice"),
            ("url=http://app.test/&hots=x", "unknown parameter \"hots\" (known: url, method, host, path, https, sni)"),
            ("url=%zz", "bad percent-encoding in \"url=%zz\""),
        ]
        for (query, reason) in cases {
            let response = refusal(route("/api/explain?" + query))
            #expect(response?.status == 400, "\(query)")
            #expect(response?.bodyText == "bad request: \(reason)\n", "\(query)")
        }
    }

    @Test("the query the CLI writes reads back as the request the CLI builds from the same options")
    func roundTrip() throws {
        let url = "http://App.test:8080/a b?x=1&y=2+3#frag"
        let cases: [(host: String?, path: String?, https: Bool, sni: String?)] = [
            (nil, nil, false, nil), ("other.test", nil, false, nil), (nil, "/p?q=%41&r", false, nil), (nil, nil, true, nil),
            (nil, nil, false, ""), ("h.test", "/z", true, "sni.test"),
        ]
        for option in cases {
            let query = ExplainQuery.encode(url: url, method: "POST", host: option.host, path: option.path, https: option.https, sni: option.sni)
            let expected = ExplainRequest(url: url, method: "POST")!
                .replacing(host: option.host, path: option.path, https: option.https, serverName: option.sni)
            #expect(try ExplainQuery.request(query).get() == expected, "\(query)")
        }
        // Without a URL, the host alone, as `pier explain --host`.
        let hostOnly = ExplainQuery.encode(url: nil, method: "GET", host: "app.test", path: "/api", https: false, sni: nil)
        #expect(try ExplainQuery.request(hostOnly).get() == ExplainRequest(host: "app.test", target: "/api"))
    }

    @Test("200: the Explainer on the latest publication with endpoint health, as JSON; 503 before a first table")
    func explains() throws {
        let latest = try Self.publication()
        let health = [Endpoint(host: "10.0.0.2", port: 80): false, Endpoint(host: "10.0.0.1", port: 80): true]
        let facts = AdminFacts(publication: latest, health: health, httpsPort: 8443)
        let request = ExplainRequest(url: "http://app.test/x")!
        let response = AdminRouter.respond(.explain(request), facts: facts)
        #expect(response.status == 200)
        #expect(response.contentType == "application/json")
        let explanation = try ExplainQuery.decode(response.bodyText)
        var withPort = request
        withPort.httpsPort = 8443
        #expect(explanation == Explainer.explain(withPort, table: latest.table, inputs: latest.inputs, statuses: latest.statuses,
                                                 issues: latest.issues, health: health))
        #expect(explanation.outcome.kind == .proxy)
        #expect(explanation.outcome.pool?.endpoints.map { "\($0.address) \($0.healthy.map(String.init) ?? "?")" }
            == ["10.0.0.1:80 true", "10.0.0.2:80 false"])

        let rejected = try ExplainQuery.decode(AdminRouter.respond(.explain(ExplainRequest(url: "http://api.test/")!), facts: facts).bodyText)
        #expect(rejected.outcome.kind == .noRoute)
        let miss = try #require(rejected.nearMisses.first { $0.kind == .rejected })
        #expect(miss.service == "api")
        #expect(miss.issues.first?.key == "com.docker.lb.port")

        let early = AdminRouter.respond(.explain(request), facts: AdminFacts())
        #expect(early.status == 503)
        #expect(early.bodyText == "not ready: no route table yet\n")
    }
}
