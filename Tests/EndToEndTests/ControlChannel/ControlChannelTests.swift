import ControlPlane
import Foundation
import LabelConfig
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ProxyCore
import Publishing
import RouteModel
import ServiceLifecycle
import TestSupport
import Testing

/// A controller in this process: a publisher fed by the test, and the channel's server on 127.0.0.1:0.
final class TestController: Sendable {
    let publisher: Publisher
    let server: ControlServer
    let lines: RecordingLogHandler.Lines
    private let group: ServiceGroup
    private let task: Task<Void, Error>

    init(name: String, tls: NIOSSLContext, initial: BuildInputs?, port: Int = 0) async throws {
        let (logger, lines) = RecordingLogHandler.logger()
        self.lines = lines
        publisher = Publisher(logger: logger)
        if let initial { publisher.publish(Build(inputs: initial)) }
        var configuration = ControlServer.Configuration(host: "127.0.0.1", port: port,
                                                        identity: .init(controller: name, node: "test", pier: "test"))
        configuration.setHeartbeat(every: .milliseconds(200), deadAfter: .seconds(1))
        configuration.setHelloDeadline(.seconds(1))
        server = ControlServer(configuration: configuration, tls: tls, group: MultiThreadedEventLoopGroup.singleton,
                               publisher: publisher, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: server)], logger: logger))
        self.group = group
        task = Task { try await group.run() }
        _ = try await server.localAddress
    }

    var port: Int { get async throws { try await server.localAddress.port! } }

    func publish(_ inputs: BuildInputs) { publisher.publish(Build(inputs: inputs)) }

    /// A graceful stop: proxies are told goodbye.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Gone without a word (a killed task).
    func kill() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// A proxy in this process: the data plane, its publisher and the channel's client.
final class TestProxy: Sendable {
    let pier: InProcessPier
    let publisher: Publisher
    let client: ControlClient
    let lines: RecordingLogHandler.Lines
    private let task: Task<Void, Error>

    init(name: String, tls: NIOSSLContext, controllers: [Int]) async throws {
        pier = try await InProcessPier.start([])
        let (logger, lines) = RecordingLogHandler.logger()
        self.lines = lines
        publisher = Publisher(logger: logger)
        let tables = pier.tables
        publisher.subscribe { tables.publish($0.table) }
        var configuration = ControlClient.Configuration(controllers: controllers.map { ("127.0.0.1", $0) }, name: name, node: "test")
        configuration.heartbeat = .milliseconds(200)
        configuration.deadAfter = .seconds(1)
        configuration.backoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(200))
        client = ControlClient(configuration: configuration, tls: tls, group: MultiThreadedEventLoopGroup.singleton,
                               publisher: publisher, adjust: { $0.settings.accessLog = false }, logger: logger)
        let client = self.client
        task = Task { try await client.run() }
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
        await pier.stop()
    }
}

/// The config channel over loopback with real TLS: tables reach every proxy, survive the controller, move
/// between controllers without a reload, and only the cluster's certificates get or give a table.
@Suite(.serialized) struct ControlChannelTests {
    let pki = ClusterPKI.shared

    var controllerTLS: NIOSSLContext { get throws { try ClusterPKI.serverContext(pki.controller, trusting: pki.ca) } }
    var proxyTLS: NIOSSLContext { get throws { try ClusterPKI.clientContext(pki.proxy, trusting: pki.ca) } }

    static func inputs(_ host: String, _ backend: TestBackend) -> BuildInputs {
        BuildInputs(settings: ProxySettings(accessLog: false), services: [service("app", ["hosts": host, "port": "1"], [backend])])
    }

    static func answers(_ proxy: TestProxy, host: String, from backend: String) async -> Bool {
        guard let reply = try? await request(proxy.pier, host: host, "/") else { return false }
        return reply.status == 200 && reply.body.contains(backend)
    }

    @Test("a table reaches every proxy, and a label change reaches traffic on all of them well under a second")
    func labelChangeReachesEveryProxy() async throws {
        let a = try await TestBackend.start("A"), b = try await TestBackend.start("B")
        let controller = try await TestController(name: "ctl-1", tls: try controllerTLS, initial: Self.inputs("app.test", a))
        let port = try await controller.port
        var proxies: [TestProxy] = []
        for i in 1...3 { proxies.append(try await TestProxy(name: "proxy-\(i)", tls: try proxyTLS, controllers: [port])) }
        for proxy in proxies {
            #expect(await becomesTrue { await Self.answers(proxy, host: "app.test", from: "A") },
                    "\(proxy.lines.all.joined(separator: "\n"))\n---\n\(controller.lines.all.joined(separator: "\n"))")
        }
        #expect(await becomesTrue { controller.server.subscribers.count == 3 && controller.server.subscribers.allSatisfy { $0.acked != nil } })
        let started = ContinuousClock.now
        controller.publish(Self.inputs("app.test", b))
        for proxy in proxies {
            #expect(await becomesTrue { await Self.answers(proxy, host: "app.test", from: "B") })
        }
        let delay = ContinuousClock.now - started
        print("label change → traffic on 3 proxies: \(delay)")
        #expect(delay < .seconds(1))
        // Every proxy acknowledged the controller's latest version.
        let version = try #require(controller.server.version)
        #expect(await becomesTrue { controller.server.subscribers.allSatisfy { $0.acked == version && $0.sent == version } })
        for proxy in proxies { #expect(proxy.client.status.version == version) }
        #expect(controller.lines.count("proxy connected") == 3)
        for proxy in proxies { #expect(proxy.lines.count("connected to controller") == 1) }
        for proxy in proxies { await proxy.stop() }
        await controller.stop()
        await a.stop(); await b.stop()
    }

    @Test("with its controller killed a proxy keeps serving, says so once, and takes the next table when one is back")
    func proxiesSurviveTheController() async throws {
        let a = try await TestBackend.start("A"), b = try await TestBackend.start("B")
        let controller = try await TestController(name: "ctl-1", tls: try controllerTLS, initial: Self.inputs("app.test", a))
        let port = try await controller.port
        let proxy = try await TestProxy(name: "proxy-1", tls: try proxyTLS, controllers: [port])
        #expect(await becomesTrue { await Self.answers(proxy, host: "app.test", from: "A") })
        await controller.kill()
        #expect(await becomesTrue { proxy.lines.count("no controller reachable; serving the last good routes") == 1 })
        for _ in 0..<20 { #expect(await Self.answers(proxy, host: "app.test", from: "A")) }
        try await Task.sleep(for: .milliseconds(500))
        #expect(proxy.lines.count("no controller reachable") == 1)
        // A controller on another port is of no use to this proxy; one back on the same port is.
        let back = try await TestController(name: "ctl-2", tls: try controllerTLS, initial: Self.inputs("app.test", b), port: port)
        #expect(await becomesTrue(10) { await Self.answers(proxy, host: "app.test", from: "B") })
        await proxy.stop()
        await back.stop()
        await a.stop(); await b.stop()
    }

    @Test("a proxy leaving a stopping controller for another with the same table reloads nothing")
    func switchingControllersWithoutReload() async throws {
        let a = try await TestBackend.start("A")
        let first = try await TestController(name: "ctl-1", tls: try controllerTLS, initial: Self.inputs("app.test", a))
        let second = try await TestController(name: "ctl-2", tls: try controllerTLS, initial: Self.inputs("app.test", a))
        #expect(await becomesTrue { first.server.version != nil && first.server.version == second.server.version })
        let proxy = try await TestProxy(name: "proxy-1", tls: try proxyTLS, controllers: [try await first.port, try await second.port])
        #expect(await becomesTrue { await Self.answers(proxy, host: "app.test", from: "A") })
        let generation = proxy.publisher.latest?.generation
        let serving = proxy.client.status.controller
        #expect(serving != nil)
        let (stopping, staying) = serving == "ctl-1" ? (first, second) : (second, first)
        await stopping.stop()
        #expect(await becomesTrue { proxy.client.status.controller != nil && proxy.client.status.controller != serving })
        #expect(await becomesTrue { proxy.lines.count("snapshot unchanged") == 1 })
        #expect(proxy.lines.count("controller said goodbye") == 1)
        #expect(proxy.publisher.latest?.generation == generation)
        #expect(proxy.lines.count("no controller reachable") == 0)
        #expect(await Self.answers(proxy, host: "app.test", from: "A"))
        await proxy.stop()
        await staying.stop()
        await a.stop()
    }

    @Test("a proxy without a certificate, with a foreign one, or with a controller's, gets no table", arguments: ["none", "foreign", "controller"])
    func foreignProxiesGetNothing(_ credentials: String) async throws {
        let a = try await TestBackend.start("A")
        let controller = try await TestController(name: "ctl-1", tls: try controllerTLS, initial: Self.inputs("app.test", a))
        let tls: NIOSSLContext = switch credentials {
        case "none": try ClusterPKI.clientContext(nil, trusting: pki.ca)
        case "foreign": try ClusterPKI.clientContext(pki.foreignProxy, trusting: pki.ca)
        default: try ClusterPKI.clientContext(pki.controller, trusting: pki.ca)
        }
        let proxy = try await TestProxy(name: "intruder", tls: tls, controllers: [try await controller.port])
        #expect(await becomesTrue { controller.lines.count("control connection refused") >= 1 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(proxy.publisher.latest == nil)
        #expect(controller.server.subscribers.isEmpty)
        #expect(controller.lines.count("proxy connected") == 0)
        await proxy.stop()
        await controller.stop()
        await a.stop()
    }

    @Test("a proxy refuses a controller of another CA, a proxy certificate acting as controller, and keeps its table",
          arguments: ["foreign", "proxy"])
    func fakeControllersAreRefused(_ credentials: String) async throws {
        let a = try await TestBackend.start("A"), evil = try await TestBackend.start("EVIL")
        let genuine = try await TestController(name: "ctl-1", tls: try controllerTLS, initial: Self.inputs("app.test", a))
        let tls: NIOSSLContext = credentials == "foreign"
            ? try ClusterPKI.serverContext(pki.foreignController, trusting: pki.foreignCA)
            : try ClusterPKI.serverContext(pki.proxy, trusting: pki.ca)
        let fake = try await TestController(name: "fake", tls: tls, initial: Self.inputs("app.test", evil))
        let proxy = try await TestProxy(name: "proxy-1", tls: try proxyTLS, controllers: [try await genuine.port, try await fake.port])
        #expect(await becomesTrue { await Self.answers(proxy, host: "app.test", from: "A") })
        await genuine.kill()
        // Now only the fake answers: the proxy refuses it at the handshake and keeps the genuine table.
        #expect(await becomesTrue { proxy.client.status.lastProblem?.contains("CERTIFICATE_VERIFY_FAILED") == true },
                "\(String(describing: proxy.client.status.lastProblem))")
        for _ in 0..<10 { #expect(await Self.answers(proxy, host: "app.test", from: "A")) }
        #expect(fake.server.subscribers.isEmpty)
        #expect(fake.lines.count("proxy connected") == 0)
        #expect(proxy.lines.count("connected to controller") == 1)
        await proxy.stop()
        await fake.stop()
        await a.stop(); await evil.stop()
    }

    @Test("a connection that never completes its handshake, or never subscribes, is closed by the controller")
    func idleConnectionsAreClosed() async throws {
        let controller = try await TestController(name: "ctl-1", tls: try controllerTLS, initial: nil)
        let port = try await controller.port
        let silent = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
        let started = ContinuousClock.now
        // Bounded: a controller that never closes it fails the test instead of hanging it.
        #expect(await becomesTrue(6) { !silent.isActive })
        let held = ContinuousClock.now - started
        silent.close(promise: nil)
        #expect(held < .seconds(4), "held \(held)")
        #expect(held >= .milliseconds(1900), "closed after \(held), before the deadline")
        await controller.stop()
    }
}
