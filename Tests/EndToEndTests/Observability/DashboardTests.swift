import Admin
import Foundation
import LabelConfig
import Logging
import NIOPosix
import Publishing
import Synchronization
import TestSupport
import Testing

/// The dashboard in a real headless Chromium against a real `pier serve` with an admin token: the page shows
/// the running services and a broken label's key, value and reason, then follows a configuration reload by
/// itself (same page, no navigation).
extension EndToEnd {
    @Suite struct DashboardTests {
        static func config(backend: Int, apiPort: String, extra: String = "") -> String {
            AdminTests.config(backend: backend, apiPort: apiPort) + "\n" + extra
        }

        @Test("the dashboard shows services, a broken label's reason, and updates after a reload",
              .enabled(if: HeadlessBrowser.enabled,
                       "chromium is not installed (scripts/test installs it; PIER_REQUIRE_BROWSER=1 makes its absence a failure)"))
        func dashboardFollowsReload() async throws {
            guard let browser = try HeadlessBrowser.launch() else { return }
            defer { browser.quit() }
            let backend = try await TestBackend.start("B")
            let served = try await AdminTests.serve(backend: backend.port, apiPort: "80x", token: "dash-t0ken")
            defer { try? FileManager.default.removeItem(at: served.directory) }
            let pier = served.pier, admin = served.admin, file = served.file
            defer { _ = pier.terminate() }
            // The reason as Pier states it, to find it on the page word for word.
            let status = try StatusJSON.decode(try AdminTests.get(admin, "/api/status", token: "dash-t0ken").body)
            let issue = try #require(status.services.first { $0.name == "api" }?.issues.first { $0.key == "com.docker.lb.port" })

            try browser.open("http://127.0.0.1:\(admin)/dashboard?interval=200#token=dash-t0ken")
            #expect(try await browser.waitUntil("document.querySelector('[data-service=\"web\"]')?.dataset.state === 'routed'"),
                    "\(String(describing: try? browser.evaluate("document.body.innerText")))")
            let issueText = try browser.evaluate("""
                document.querySelector('[data-service="api"][data-state="rejected"] [data-issue-key="com.docker.lb.port"]')?.textContent
                """) as? String
            #expect(issueText == "com.docker.lb.port=\"80x\": \(issue.reason)")
            #expect(try browser.evaluate("document.getElementById('header').dataset.generation") as? String == "1")
            #expect(try browser.evaluate("document.querySelector('[data-service=\"web\"] [data-endpoint]')?.dataset.endpoint") as? String
                    == "127.0.0.1:\(backend.port)")
            #expect(try browser.evaluate("document.querySelector('[data-route=\"app.test/\"]') !== null") as? Bool == true)

            // The same page, marked, follows a reload: the label fixed, a service added.
            try browser.evaluate("window.pierMarker = 'same page'")
            let added = """
                [[Services]]
                Name = "new"
                Endpoints = ["127.0.0.1:\(backend.port)"]
                [Services.Labels]
                "com.docker.lb.hosts" = "new.test"
                "com.docker.lb.port" = "\(backend.port)"
                """
            try Self.config(backend: backend.port, apiPort: "\(backend.port)", extra: added).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(try await browser.waitUntil("document.getElementById('header').dataset.generation === '2'"))
            #expect(try await browser.waitUntil("document.querySelector('[data-service=\"new\"]')?.dataset.state === 'routed'"))
            #expect(try browser.evaluate("document.querySelector('[data-service=\"api\"]')?.dataset.state") as? String == "routed")
            #expect(try browser.evaluate("document.querySelectorAll('[data-issue-key]').length") as? Int == 0)
            #expect(try browser.evaluate("window.pierMarker") as? String == "same page")
            #expect(pier.terminate() == 0)
            await backend.stop()
        }

        @Test("without the token in its fragment the page says it wants one, and shows no data",
              .enabled(if: HeadlessBrowser.enabled, "chromium is not installed"))
        func dashboardWithoutToken() async throws {
            guard let browser = try HeadlessBrowser.launch() else { return }
            defer { browser.quit() }
            let served = try await AdminTests.serve(backend: 9, apiPort: "80x", token: "dash-t0ken")
            defer { try? FileManager.default.removeItem(at: served.directory) }
            let pier = served.pier, admin = served.admin
            defer { _ = pier.terminate() }
            try browser.open("http://127.0.0.1:\(admin)/dashboard?interval=200")
            #expect(try await browser.waitUntil("document.getElementById('problem')?.textContent.includes('wants a token') === true"))
            #expect(try browser.evaluate("document.querySelectorAll('[data-service]').length") as? Int == 0)
        }

        @Test("request and 5xx rates come from two readings of the traffic counters; failures show their cause",
              .enabled(if: HeadlessBrowser.enabled, "chromium is not installed"))
        func dashboardRates() async throws {
            guard let browser = try HeadlessBrowser.launch() else { return }
            defer { browser.quit() }
            // An admin server in process, whose data plane is a counter that grows by 10 requests (2 of them
            // 5xx) per reading: the page must turn consecutive readings into non-zero rates.
            let publisher = Publisher(logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            publisher.publish(Build(inputs: BuildInputs(services: [ServiceDescription(
                name: "web", labels: ["com.docker.lb.hosts": "app.test", "com.docker.lb.port": "80"], endpoints: [.init(host: "127.0.0.1", port: nil)])])))
            let readings = Mutex<UInt64>(0)
            var sources = AdminSources(role: .serve, version: "pier test", publisher: publisher)
            sources.traffic = {
                let n = readings.withLock { $0 += 1; return $0 }
                return StatusDocument.Traffic(
                    requests: 10 * n, errors: 2 * n,
                    routes: [.init(route: "app.test/", service: "web", requests: 10 * n, errors: 2 * n)],
                    failures: [.init(side: "upstream", kind: "connect_refused", summary: "upstream refused the connection", count: 2 * n)])
            }
            let server = AdminServer(configuration: AdminConfiguration(host: "127.0.0.1", port: 0), sources: sources,
                                     group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test"))
            let running = Task { try await server.run() }
            defer { running.cancel() }
            let admin = try #require((try await server.localAddress).port)

            try browser.open("http://127.0.0.1:\(admin)/dashboard?interval=200")
            #expect(try await browser.waitUntil("parseFloat(document.getElementById('rate')?.textContent) > 0"),
                    "\(String(describing: try? browser.evaluate("document.getElementById('header').innerText")))")
            #expect(try await browser.waitUntil("parseFloat(document.getElementById('errors')?.textContent) > 0"))
            let routeErrors = try browser.evaluate("parseFloat(document.querySelector('[data-route=\"app.test/\"] td:nth-child(5)').textContent)") as? Double
            #expect((routeErrors ?? 0) > 0)
            #expect(try browser.evaluate("document.querySelector('[data-failure=\"connect_refused\"]')?.textContent.includes('upstream refused the connection')")
                    as? Bool == true)
        }
    }
}
