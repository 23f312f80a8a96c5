@testable import Admin
import Foundation
import LabelConfig
import Logging
import Publishing
import RouteModel
import Testing

/// The admin entrypoint's routing alone: paths and their aliases, methods, the token, and the responses built
/// from facts (readiness, the status document, the Prometheus text).
@Suite struct AdminRouterTests {
    func route(_ path: String, method: String = "GET", authorization: String? = nil, token: String? = nil) -> Result<AdminEndpoint, AdminRefusal> {
        AdminRouter.route(AdminRequest(method: method, uri: path, authorization: authorization), token: token)
    }

    @Test("paths, aliases and queries map to their pages")
    func paths() throws {
        let expected: [(String, AdminEndpoint)] = [
            ("/healthz", .health), ("/live", .health), ("/readyz", .ready), ("/ready", .ready), ("/api/status", .status),
            ("/status", .status), ("/api/routes", .routes), ("/metrics", .metrics), ("/dashboard", .dashboard),
            ("/metrics?name[]=x", .metrics), ("/api/status?x=1", .status),
        ]
        for (path, endpoint) in expected { #expect(try route(path).get() == endpoint, "\(path)") }
        #expect(route("/", method: "GET") == .failure(AdminRefusal(.text(302, "see /dashboard", headers: ["location": "/dashboard"]))))
        for path in ["/api", "/api/status/x", "/metrics/", "/favicon.ico", "", "//api/status"] {
            guard case .failure(let refusal) = route(path) else { Issue.record("\(path) routed"); continue }
            #expect(refusal.response.status == 404, "\(path)")
        }
    }

    @Test("only GET and HEAD; others get 405 with Allow")
    func methods() throws {
        #expect(try route("/metrics", method: "HEAD").get() == .metrics)
        for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
            guard case .failure(let refusal) = route("/api/status", method: method) else { Issue.record("\(method) accepted"); continue }
            #expect(refusal.response.status == 405)
            #expect(refusal.response.headers["allow"] == "GET, HEAD")
        }
    }

    @Test("with a token: data pages need the bearer token, probes and the page do not")
    func token() throws {
        let token = "s3cr3t-token"
        for path in ["/api/status", "/status", "/api/routes", "/metrics"] {
            for authorization in [nil, "Bearer wrong-token!", "Bearer s3cr3t-toke", "Basic czNjcjN0LXRva2Vu", "Bearer  s3cr3t-token", "s3cr3t-token"] {
                guard case .failure(let refusal) = route(path, authorization: authorization, token: token) else {
                    Issue.record("\(path) with \(authorization ?? "nothing") accepted"); continue
                }
                #expect(refusal.response.status == 401)
                #expect(refusal.response.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
            }
            #expect(try route(path, authorization: "Bearer s3cr3t-token", token: token).get() != .health)
            #expect(try route(path, authorization: "bearer s3cr3t-token", token: token).get() != .health)
        }
        for path in ["/healthz", "/readyz", "/live", "/ready", "/dashboard"] {
            #expect((try? route(path, token: token).get()) != nil, "\(path)")
        }
        // Without a configured token everything is open.
        #expect(try route("/metrics").get() == .metrics)
    }

    @Test("readiness: 200 ready, 503 with the reason")
    func readiness() {
        #expect(AdminRouter.respond(.ready, facts: AdminFacts()) == .text(200, "ready"))
        let unready = AdminRouter.respond(.ready, facts: AdminFacts(notReady: "no route table yet"))
        #expect(unready.status == 503)
        #expect(unready.bodyText == "not ready: no route table yet\n")
        #expect(AdminRouter.respond(.health, facts: AdminFacts()).status == 200)
    }

    @Test("status and routes are JSON of the document; metrics are Prometheus text; the page is HTML with a CSP")
    func responses() throws {
        let status = StatusDocument(role: "serve", name: nil, pier: "pier test", notReady: nil, latest: nil, uptimeSeconds: 1)
        let json = AdminRouter.respond(.status, facts: AdminFacts(status: status))
        #expect(json.contentType == "application/json")
        #expect(try StatusJSON.decode(json.bodyText) == status)
        let routes = AdminRouter.respond(.routes, facts: AdminFacts(status: status))
        #expect(try JSONDecoder().decode(RoutesDocument.self, from: Data(routes.body)) == RoutesDocument(generation: nil, routes: []))
        let metrics = AdminRouter.respond(.metrics, facts: AdminFacts(metrics: "a 1\n"))
        #expect(metrics.contentType.hasPrefix("text/plain; version=0.0.4"))
        #expect(metrics.bodyText == "a 1\n")
        let page = AdminRouter.respond(.dashboard, facts: AdminFacts())
        #expect(page.contentType.hasPrefix("text/html"))
        #expect(page.headers["content-security-policy"]?.contains("default-src 'self'") == true)
        #expect(page.bodyText.contains("<html") || page.bodyText.contains("<!doctype html>"))
    }
}

/// The status document from a publication: services with their state, endpoints and own issues; routes.
@Suite struct StatusDocumentTests {
    @Test("a rejected label shows with key, value and reason; the routed service with its route and endpoints")
    func rejectedLabel() throws {
        let publisher = Publisher(logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let services = [
            ServiceDescription(name: "web", labels: ["com.docker.lb.hosts": "app.test", "com.docker.lb.port": "80"],
                               endpoints: [.init(host: "10.0.0.2", port: nil), .init(host: "10.0.0.1", port: nil)]),
            ServiceDescription(name: "api", labels: ["com.docker.lb.hosts": "api.test", "com.docker.lb.port": "80x"],
                               endpoints: [.init(host: "10.0.0.3", port: nil)]),
        ]
        publisher.publish(Build(inputs: BuildInputs(services: services)))
        let latest = try #require(publisher.latest)
        let document = StatusDocument(role: "serve", name: nil, pier: "pier test", notReady: nil, latest: latest, uptimeSeconds: 2,
                                      health: [Endpoint(host: "10.0.0.2", port: 80): false])
        #expect(document.generation == 1)
        #expect(document.compileMs != nil)
        #expect(document.routes.map(\.route) == ["app.test/"])
        let web = try #require(document.services.first { $0.name == "web" })
        #expect(web.state == "routed")
        #expect(web.routes == ["app.test/"])
        #expect(web.endpoints == [.init(address: "10.0.0.1:80", healthy: true), .init(address: "10.0.0.2:80", healthy: false)])
        let api = try #require(document.services.first { $0.name == "api" })
        #expect(api.state == "rejected")
        let issue = try #require(api.issues.first)
        #expect(issue.key == "com.docker.lb.port" && issue.value == "80x" && issue.severity == "error")
        #expect(!issue.reason.isEmpty)
        #expect(document.issues.contains(issue))
    }
}
