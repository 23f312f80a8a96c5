import AsyncHTTPClient
import Foundation
import LabelConfig
import NIOCore
import NIOHTTP1
import ProxyCore
import RouteModel
import Testing

extension EndToEnd {
    /// Host and path routing through a real Pier entrypoint to real backends, with real clients.
    @Suite(.serialized)
    struct RoutingTests {
        @Test func routesByHostWildcardAndDefault() async throws {
            let a = try await TestBackend.start("a"), b = try await TestBackend.start("b"), w = try await TestBackend.start("w")
            let d = try await TestBackend.start("d")
            let pier = try await InProcessPier.start([
                service("svc-a", ["hosts": "a.example.org"], [a]),
                service("svc-b", ["hosts": "B.Example.org"], [b]),
                service("svc-w", ["hosts": "*.apps.example.org"], [w]),
                service("svc-d", ["default_backend": "true"], [d]),
            ])
            #expect(try await request(pier, host: "a.example.org", "/").fields["backend"] == "a")
            #expect(try await request(pier, host: "b.example.org:8080", "/").fields["backend"] == "b")
            #expect(try await request(pier, host: "A.EXAMPLE.ORG.", "/").fields["backend"] == "a")
            #expect(try await request(pier, host: "x.apps.example.org", "/").fields["backend"] == "w")
            #expect(try await request(pier, host: "x.y.apps.example.org", "/").fields["backend"] == "w")
            #expect(try await request(pier, host: "apps.example.org", "/").fields["backend"] == "d")
            #expect(try await request(pier, host: "unknown.test", "/").fields["backend"] == "d")
            await pier.stop()
            for s in [a, b, w, d] { await s.stop() }
        }

        @Test func unknownHostWithoutDefaultIs503() async throws {
            let a = try await TestBackend.start("a")
            let pier = try await InProcessPier.start([service("svc-a", ["hosts": "a.example.org"], [a])])
            let reply = try await request(pier, host: "nope.example.org", "/")
            #expect(reply.status == 503)
            #expect(a.requests == 0)
            await pier.stop()
            await a.stop()
        }

        @Test func contextRootsWithAndWithoutRewrite() async throws {
            let root = try await TestBackend.start("root"), app = try await TestBackend.start("app"), raw = try await TestBackend.start("raw")
            let pier = try await InProcessPier.start([
                service("root", ["hosts": "h.test"], [root]),
                service("app", ["hosts": "h.test", "context_root": "/app", "context_root_rewrite": "true"], [app]),
                service("raw", ["hosts": "h.test", "context_root": "/raw"], [raw]),
            ])
            let stripped = try await request(pier, host: "h.test", "/app/users?id=7")
            #expect(stripped.fields["backend"] == "app")
            #expect(stripped.fields["uri"] == "/users?id=7")
            #expect(try await request(pier, host: "h.test", "/app/").fields["uri"] == "/")
            let slash = try await request(pier, host: "h.test", "/app?x=1")
            #expect(slash.status == 301)
            #expect(slash.headers["location"] == ["/app/?x=1"])
            let kept = try await request(pier, host: "h.test", "/raw/a/b")
            #expect(kept.fields["backend"] == "raw")
            #expect(kept.fields["uri"] == "/raw/a/b")
            #expect(try await request(pier, host: "h.test", "/raw").fields["uri"] == "/raw")
            // Segment boundary: /apple is not under /app.
            #expect(try await request(pier, host: "h.test", "/apple").fields["backend"] == "root")
            // Dot segments cannot climb out of a context root.
            let climbed = try await request(pier, host: "h.test", "/app/../raw/x")
            #expect(climbed.fields["backend"] == "raw")
            #expect(climbed.fields["uri"] == "/raw/x")
            await pier.stop()
            for s in [root, app, raw] { await s.stop() }
        }

        @Test func hostWithOnlyContextRootsAnswers404Elsewhere() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([service("app", ["hosts": "h.test", "context_root": "/app"], [app])])
            #expect(try await request(pier, host: "h.test", "/other").status == 404)
            #expect(app.requests == 0)
            await pier.stop()
            await app.stop()
        }

        @Test func redirectKeepsPathAndQueryAndTargetHostRoutes() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([
                service("app", ["hosts": "old.test,new.test", "redirects": "http://old.test,http://new.test"], [app]),
            ])
            let reply = try await request(pier, host: "old.test", "/p/q?x=1&y=2")
            #expect(reply.status == 302)
            #expect(reply.headers["location"] == ["http://new.test/p/q?x=1&y=2"])
            #expect(try await request(pier, host: "new.test", "/p").fields["backend"] == "app")
            #expect(app.requests == 1)
            await pier.stop()
            await app.stop()
        }

        @Test func canaryServicesShareTrafficByEndpointCount() async throws {
            let v1a = try await TestBackend.start("v1"), v1b = try await TestBackend.start("v1"), v1c = try await TestBackend.start("v1")
            let v2 = try await TestBackend.start("v2")
            let pier = try await InProcessPier.start([
                service("web-v1", ["hosts": "app.test"], [v1a, v1b, v1c]),
                service("web-v2", ["hosts": "app.test"], [v2]),
            ])
            var counts: [String: Int] = [:]
            for _ in 0..<40 {
                counts[try await request(pier, host: "app.test", "/").fields["backend"]!, default: 0] += 1
            }
            #expect(counts["v1"] == 30)
            #expect(counts["v2"] == 10)
            await pier.stop()
            for s in [v1a, v1b, v1c, v2] { await s.stop() }
        }

        @Test func forwardedAndInfoHeaders() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])])
            let reply = try await request(pier, host: "app.test:8080", "/x", headers: [
                ("X-Forwarded-For", "203.0.113.9"), ("Connection", "X-Drop"), ("X-Drop", "secret"),
            ])
            let seen = reply.fields
            #expect(seen["h:host"] == "app.test:8080")
            #expect(seen["h:x-forwarded-for"] == "203.0.113.9, 127.0.0.1")
            #expect(seen["h:x-real-ip"] == "127.0.0.1")
            #expect(seen["h:x-forwarded-proto"] == "http")
            #expect(seen["h:x-forwarded-host"] == "app.test:8080")
            #expect(seen["h:x-drop"] == nil)
            let id = try #require(reply.headers.first(name: "x-request-id"))
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
            #expect(seen["h:x-request-id"] == id)
            #expect(reply.headers.first(name: "x-proxy-id") == "pier")
            #expect(reply.headers.first(name: "x-server-info") == PierVersion.serverInfo)
            #expect(reply.headers.first(name: "x-upstream-addr") == "127.0.0.1:\(app.port)")
            #expect(reply.headers.first(name: "x-upstream-response-time") != nil)

            // A valid client id is kept end to end.
            let kept = try await request(pier, host: "app.test", "/", headers: [("X-Request-Id", "trace-42")])
            #expect(kept.headers.first(name: "x-request-id") == "trace-42")
            #expect(kept.fields["h:x-request-id"] == "trace-42")

            // HideInfoHeaders removes them from responses; the upstream still gets an id.
            pier.publish([service("app", ["hosts": "app.test"], [app])], settings: ProxySettings(hideInfoHeaders: true, accessLog: false))
            let hidden = try await request(pier, host: "app.test", "/")
            for name in ["x-request-id", "x-proxy-id", "x-server-info", "x-upstream-addr", "x-upstream-response-time"] {
                #expect(hidden.headers.first(name: name) == nil, "\(name)")
            }
            #expect(hidden.fields["h:x-request-id"] != nil)
            await pier.stop()
            await app.stop()
        }

        @Test func keepAliveReusesUpstreamConnections() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])])
            for _ in 0..<50 {
                #expect(try await request(pier, host: "app.test", "/").status == 200)
            }
            #expect(app.requests == 50)
            #expect(app.connections <= 2, "50 requests used \(app.connections) upstream connections")
            await pier.stop()
            await app.stop()
        }

        @Test func curlSeesRoutingToo() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test", "context_root": "/v1", "context_root_rewrite": "true"], [app])])
            let r = try curl(["-H", "Host: app.test", "\(pier.base)/v1/hello?a=b"])
            #expect(r.status == 0)
            #expect(echoFields(r.out)["uri"] == "/hello?a=b")
            // Pipelined requests over one connection come back in order.
            let pipelined = try rawExchange(port: pier.port,
                "GET /v1/one HTTP/1.1\r\nHost: app.test\r\n\r\nGET /v1/two HTTP/1.1\r\nHost: app.test\r\n\r\nGET /v1/three HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
            let uris = pipelined.split(separator: "\n").filter { $0.hasPrefix("uri=") }
            #expect(uris == ["uri=/one", "uri=/two", "uri=/three"])
            await pier.stop()
            await app.stop()
        }

        @Test("a HEAD request Pier answers itself (503 for an unknown host) gets the head alone: the next response on the connection is intact")
        func headAnsweredLocally() async throws {
            let app = try await TestBackend.start("app")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], [app])])
            let reply = try rawExchange(port: pier.port,
                "HEAD /x HTTP/1.1\r\nHost: nowhere.test\r\n\r\nGET /y HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
            let parts = reply.components(separatedBy: "\r\n\r\n")
            #expect(parts.count >= 2)
            #expect(parts[0].hasPrefix("HTTP/1.1 503"), "\(reply.prefix(200))")
            #expect(parts[0].lowercased().contains("content-length:"), "HEAD keeps the length a GET would get")
            #expect(parts.count >= 2 && parts[1].hasPrefix("HTTP/1.1 200"), "bytes after the HEAD answer's head: \(reply.prefix(400))")
            await pier.stop()
            await app.stop()
        }
    }
}
