import AsyncHTTPClient
import Foundation
import LabelConfig
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import RouteModel
import Testing

extension EndToEnd {
    /// Balancing end to end: sticky sessions, ip_hash, weights, least connections, passive health and
    /// retries, against real backends that can be slow, failing or killed.
    @Suite("Balancing", .serialized, .timeLimit(.minutes(3)))
    struct BalancingTests {
        /// Sends `count` requests with `workers` concurrent clients; returns the `x-backend` of each answer
        /// (or `status <code>` / `error`).
        static func load(_ pier: InProcessPier, host: String, count: Int, workers: Int = 8, path: String = "/",
                         method: HTTPMethod = .GET, headers: @escaping @Sendable (Int) -> [(String, String)] = { _ in [] }) async -> [String] {
            await withTaskGroup(of: [(Int, String)].self) { group in
                for worker in 0..<workers {
                    group.addTask {
                        var out: [(Int, String)] = []
                        var i = worker
                        while i < count {
                            do {
                                let reply = try await request(pier, host: host, path, method: method, headers: headers(i))
                                out.append((i, reply.status == 200 ? reply.headers.first(name: "x-backend") ?? "?" : "status \(reply.status)"))
                            } catch {
                                out.append((i, "error \(error)"))
                            }
                            i += workers
                        }
                        return out
                    }
                }
                var all: [(Int, String)] = []
                for await part in group { all += part }
                return all.sorted { $0.0 < $1.0 }.map(\.1)
            }
        }

        static func counts(_ answers: [String]) -> [String: Int] {
            answers.reduce(into: [:]) { $0[$1, default: 0] += 1 }
        }

        @Test("sticky_session_cookie: 1,000 requests of 100 clients stay pinned; scaling out moves only the new endpoint's share; a removed endpoint's clients move and nothing fails")
        func stickyCookie() async throws {
            let backends = try await [TestBackend.start("a"), TestBackend.start("b"), TestBackend.start("c"), TestBackend.start("d")]
            let labels = ["hosts": "app.test", "sticky_session_cookie": "sid"]
            let pier = try await InProcessPier.start([service("app", labels, Array(backends[0..<3]))])
            let cookie: @Sendable (Int) -> [(String, String)] = { i in [("Cookie", "theme=dark; sid=client-\(i % 100)")] }
            let first = await Self.load(pier, host: "app.test", count: 1_000, headers: cookie)
            var pinned: [Int: String] = [:]
            for (i, backend) in first.enumerated() {
                #expect(["a", "b", "c"].contains(backend), "\(backend)")
                if let earlier = pinned[i % 100] { #expect(earlier == backend, "client \(i % 100) moved") }
                pinned[i % 100] = backend
            }
            #expect(Set(pinned.values).count == 3, "clients spread over every endpoint")
            // Without the cookie: round robin.
            #expect(Set(await Self.load(pier, host: "app.test", count: 30)) == ["a", "b", "c"])

            // Scale out to four: movers go to the new endpoint only, about a quarter of the clients.
            pier.publish([service("app", labels, backends)])
            let scaled = await Self.load(pier, host: "app.test", count: 100, headers: cookie)
            let moved = (0..<100).filter { scaled[$0] != pinned[$0] }
            #expect(moved.allSatisfy { scaled[$0] == "d" })
            #expect(moved.count >= 10 && moved.count <= 45, "\(moved.count) of 100 moved")

            // b is removed: its clients move, the others stay, every request is answered.
            pier.publish([service("app", labels, [backends[0], backends[2], backends[3]])])
            let after = await Self.load(pier, host: "app.test", count: 100, headers: cookie)
            for i in 0..<100 {
                #expect(after[i] != "b" && !after[i].hasPrefix("status") && !after[i].hasPrefix("error"), "\(after[i])")
                if scaled[i] != "b" { #expect(after[i] == scaled[i], "client \(i) moved though its endpoint stayed") }
            }
            await pier.stop()
            for backend in backends { await backend.stop() }
        }

        @Test("ip_hash: each client address stays on one endpoint; addresses spread over the endpoints")
        func ipHash() async throws {
            let backends = try await [TestBackend.start("a"), TestBackend.start("b"), TestBackend.start("c")]
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test", "ip_hash": "true"], backends)])
            var seen: [String: String] = [:]
            for n in 2...31 {
                let address = "127.0.0.\(n)"
                // Three requests on three connections from the same address.
                for _ in 0..<3 {
                    let r = try curl(["-sS", "--interface", address, "-H", "Host: app.test", pier.base + "/"])
                    #expect(r.status == 0, "\(r.err)")
                    let backend = echoFields(r.out)["backend"] ?? "?"
                    if let earlier = seen[address] { #expect(earlier == backend, "\(address) moved") }
                    seen[address] = backend
                }
            }
            #expect(Set(seen.values).count == 3, "\(Self.counts(Array(seen.values)))")
            await pier.stop()
            for backend in backends { await backend.stop() }
        }

        @Test("pier.weight 90/10 between a 4-task and a 1-task service: within ±2 % over 10,000 requests")
        func weights() async throws {
            let v1 = try await [TestBackend.start("v1-1"), TestBackend.start("v1-2"), TestBackend.start("v1-3"), TestBackend.start("v1-4")]
            let v2 = try await TestBackend.start("v2")
            let pier = try await InProcessPier.start([
                service("shop-v1", ["hosts": "shop.test", "pier.weight": "90"], v1),
                service("shop-v2", ["hosts": "shop.test", "pier.weight": "10"], [v2]),
            ])
            let answers = await Self.load(pier, host: "shop.test", count: 10_000, workers: 16)
            let counts = Self.counts(answers)
            let share = Double(counts["v2", default: 0]) / 10_000
            #expect(abs(share - 0.10) <= 0.002, "v2 got \(share * 100) % (\(counts))")
            #expect(counts.filter { $0.key.hasPrefix("v1-") }.values.reduce(0, +) + counts["v2", default: 0] == 10_000)
            // Without weights, Interlock's task-count split: v2 is one endpoint of five.
            pier.publish([service("shop-v1", ["hosts": "shop.test"], v1), service("shop-v2", ["hosts": "shop.test"], [v2])])
            let plain = Self.counts(await Self.load(pier, host: "shop.test", count: 1_000))
            #expect(abs(Double(plain["v2", default: 0]) / 1_000 - 0.2) <= 0.02, "\(plain)")
            await pier.stop()
            for backend in v1 + [v2] { await backend.stop() }
        }

        @Test("least_conn: a slow endpoint gets few requests while it holds many; round robin would split evenly")
        func leastConnections() async throws {
            let slow = try await TestBackend.start("slow", delay: 200)
            let fast = try await TestBackend.start("fast")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test", "pier.balance": "least_conn"], [slow, fast])])
            let counts = Self.counts(await Self.load(pier, host: "app.test", count: 200, workers: 8))
            #expect(counts["fast", default: 0] >= 150, "\(counts)")
            #expect(counts["fast", default: 0] + counts["slow", default: 0] == 200)
            await pier.stop()
            await slow.stop()
            await fast.stop()
        }

        @Test("killing one of three endpoints under load: zero failed idempotent requests (retried elsewhere, then skipped)")
        func killOneOfThree() async throws {
            let backends = try await [TestBackend.start("a"), TestBackend.start("b"), TestBackend.start("c", delay: 20)]
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test"], backends)])
            let stop = NIOLockedValueBox(false)
            let loadTask = Task {
                await withTaskGroup(of: [String].self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            var out: [String] = []
                            while !stop.withLockedValue({ $0 }) {
                                do {
                                    let reply = try await request(pier, host: "app.test", "/")
                                    out.append(reply.status == 200 ? reply.headers.first(name: "x-backend") ?? "?" : "status \(reply.status)")
                                } catch {
                                    out.append("error \(error)")
                                }
                            }
                            return out
                        }
                    }
                    var all: [String] = []
                    for await part in group { all += part }
                    return all
                }
            }
            try await Task.sleep(for: .milliseconds(500))
            // c dies with requests under way on it (each takes 20 ms there).
            await backends[2].kill()
            try await Task.sleep(for: .milliseconds(1_500))
            stop.withLockedValue { $0 = true }
            let answers = await loadTask.value
            let failures = answers.filter { $0.hasPrefix("status") || $0.hasPrefix("error") }
            #expect(failures.isEmpty, "\(failures.count) failed of \(answers.count): \(Set(failures))")
            #expect(answers.count > 200, "load ran: \(answers.count) requests")
            #expect(Self.counts(answers)["c", default: 0] > 0, "c answered before it died")
            await pier.stop()
            for backend in backends { await backend.stop() }
        }

        @Test("502/503/504: idempotent requests go to another endpoint, others get the answer; passive health then skips the failing endpoint")
        func retriesAndPassiveHealth() async throws {
            let bad = try await TestBackend.start("bad", status: .serviceUnavailable)
            let good = try await TestBackend.start("good")
            let pier = try await InProcessPier.start([service("app", ["hosts": "app.test", "max_fails": "2", "fail_timeout": "30s"], [bad, good])])
            let gets = await Self.load(pier, host: "app.test", count: 50, workers: 1)
            #expect(gets.allSatisfy { $0 == "good" }, "\(Self.counts(gets))")
            // Two failures per event loop within the window take it out: it saw only a handful of the 50.
            #expect(bad.requests <= 4, "bad got \(bad.requests) requests")
            await pier.stop()

            // Passive health off: bad keeps its turn, yet idempotent requests never see its 503; POSTs do.
            let bad2 = try await TestBackend.start("bad", status: .serviceUnavailable)
            let lenient = try await InProcessPier.start([service("app", ["hosts": "app.test", "max_fails": "0"], [bad2, good])])
            let again = await Self.load(lenient, host: "app.test", count: 40, workers: 1)
            #expect(again.allSatisfy { $0 == "good" }, "\(Self.counts(again))")
            #expect(bad2.requests >= 15, "bad kept its turn: \(bad2.requests)")
            let posts = Self.counts(await Self.load(lenient, host: "app.test", count: 40, workers: 1, method: .POST))
            #expect(posts["status 503", default: 0] >= 15, "\(posts)")
            #expect(posts["good", default: 0] >= 15, "\(posts)")
            await lenient.stop()
            await bad.stop()
            await bad2.stop()
            await good.stop()
        }
    }
}
