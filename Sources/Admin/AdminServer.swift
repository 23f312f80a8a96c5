import ControlPlane
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Publishing
import RouteModel
import ServiceLifecycle

/// What the admin entrypoint reports on, for one role. Closures are read per request, off the data plane.
public struct AdminSources: Sendable {
    /// The process's role.
    public enum Role: String, Sendable {
        case serve, controller, proxy
    }

    public var role: Role
    /// The binary's version line.
    public var version: String
    /// This task's name (controller, proxy).
    public var name: String?
    /// The publish path: the live table, what it was compiled from, statuses and issues.
    public var publisher: Publisher
    /// Why the process is not ready (nil: ready). A first table is the publisher's business, checked besides.
    public var readiness: @Sendable () -> String?
    /// The registry swift-metrics writes into (Publisher's metrics), written out first on `/metrics`.
    public var registry: PrometheusCollectorRegistry?
    /// More Prometheus text appended to `/metrics`: the data plane's per-loop counters, summed at scrape time.
    public var extraExposition: (@Sendable () async -> String)?
    /// The data plane's request counters for `/api/status` (the dashboard's rates), when it counts.
    public var traffic: (@Sendable () async -> StatusDocument.Traffic?)?
    /// Which endpoints health checks took out, when this process has a data plane that knows.
    public var endpointHealth: (@Sendable () async -> [Endpoint: Bool])?
    /// The HTTPS entrypoint's bound port (a redirect's location in `/api/explain`), when there is one.
    public var httpsPort: (@Sendable () -> Int?)?
    /// A controller's connected proxies.
    public var proxies: (@Sendable () -> [SubscriberStatus])?
    /// A proxy's controller.
    public var controllerLink: (@Sendable () -> StatusDocument.ControllerLink)?
    /// The snapshot version this process serves or sends, when the publisher does not know it (a controller's).
    public var snapshotVersion: (@Sendable () -> String?)?

    /// Sources with only the publisher and the readiness check; set the optional ones as the role has them.
    public init(role: Role, version: String, name: String? = nil, publisher: Publisher,
                readiness: @escaping @Sendable () -> String? = { nil }) {
        self.role = role
        self.version = version
        self.name = name
        self.publisher = publisher
        self.readiness = readiness
    }
}

/// The admin entrypoint of `pier serve`, `pier controller` and `pier proxy`: its own listener (never one of
/// the traffic entrypoints, so that no route can shadow it and no routed host reaches it), HTTP/1.1, one
/// request per connection. The handler is thin: `AdminRouter` decides, this class gathers the facts.
public final class AdminServer: Service, Sendable {
    /// The admin address could not be bound.
    public struct BindError: Error, CustomStringConvertible {
        public var address: String
        public var reason: String
        public var description: String { "cannot listen on the admin address \(address): \(reason)" }
    }

    private let configuration: AdminConfiguration
    private let sources: AdminSources
    private let group: any EventLoopGroup
    private let logger: Logger
    /// Where it listens once bound, or why not; and who waits for it. Not a promise of the event loops: the
    /// server may outlive them (a promise settled in `deinit` would schedule on a loop already shut down).
    private let bound = NIOLockedValueBox<(result: Result<SocketAddress, BindError>?, waiters: [CheckedContinuation<SocketAddress, Error>])>((nil, []))
    private let started = Date()

    /// Creates the server; it listens once `run()` runs.
    public init(configuration: AdminConfiguration, sources: AdminSources, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.sources = sources
        self.group = group
        self.logger = logger
    }

    deinit {
        // A server that never ran never bound: whoever waits is told (a no-op when it was).
        settle(.failure(BindError(address: "\(configuration.host):\(configuration.port)", reason: "never started")))
    }

    /// The bound address, once bound.
    public var localAddress: SocketAddress {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let known = bound.withLockedValue { state -> Result<SocketAddress, BindError>? in
                    if state.result == nil { state.waiters.append(continuation) }
                    return state.result
                }
                if let known { continuation.resume(with: known.mapError { $0 as Error }) }
            }
        }
    }

    /// Records the first outcome of binding and wakes its waiters.
    private func settle(_ result: Result<SocketAddress, BindError>) {
        let waiters = bound.withLockedValue { state -> [CheckedContinuation<SocketAddress, Error>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(with: result.mapError { $0 as Error }) }
    }

    public func run() async throws {
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(AdminHandler(server: self))
                    }
                }
                .bind(host: configuration.host, port: configuration.port).get()
        } catch {
            let failure = BindError(address: "\(configuration.host):\(configuration.port)", reason: "\(error)")
            settle(.failure(failure))
            throw failure
        }
        settle(.success(channel.localAddress!))
        logger.info("admin listening", metadata: [
            "address": "\(channel.localAddress!)", "token": "\(configuration.token == nil ? "none" : "required")"])
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await channel.closeFuture.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }

    /// The response to `request`: routed, then the facts its page needs gathered (only those).
    func respond(to request: AdminRequest) async -> AdminResponse {
        switch AdminRouter.route(request, token: configuration.token) {
        case .failure(let refusal): return refusal.response
        case .success(let endpoint):
            var facts = AdminFacts()
            switch endpoint {
            case .health, .dashboard: break
            case .ready: facts.notReady = notReady()
            case .status, .routes: facts.status = await status()
            case .metrics: facts.metrics = await metrics()
            case .explain:
                facts.publication = sources.publisher.latest
                facts.health = await sources.endpointHealth?()
                facts.httpsPort = sources.httpsPort?()
            }
            return AdminRouter.respond(endpoint, facts: facts)
        }
    }

    /// Why not ready: the role's own reason first (draining, not bound), then no table yet.
    func notReady() -> String? {
        if let why = sources.readiness() { return why }
        return sources.publisher.latest == nil ? "no route table yet" : nil
    }

    /// The status document now.
    public func status() async -> StatusDocument {
        let health = await sources.endpointHealth?()
        var document = StatusDocument(role: sources.role.rawValue, name: sources.name, pier: sources.version, notReady: notReady(),
                                      latest: sources.publisher.latest, uptimeSeconds: Date().timeIntervalSince(started), health: health)
        // The latest accepted version, which may be newer than the table's when the table came out the same.
        if let version = sources.snapshotVersion?() ?? sources.publisher.latestVersion { document.version = version }
        document.traffic = await sources.traffic?()
        document.proxies = sources.proxies?()
        document.controller = sources.controllerLink?()
        return document
    }

    /// The Prometheus text now.
    public func metrics() async -> String {
        var buffer: [UInt8] = []
        if let registry = sources.registry {
            // Scrape-time facts: counted here rather than on every change of their owners.
            if let proxies = sources.proxies { gauge(registry, "control_subscribers", "Proxies connected to this controller.", proxies().count) }
            if let link = sources.controllerLink {
                gauge(registry, "control_connected", "1 while this proxy is subscribed to a controller.", link().name == nil ? 0 : 1)
            }
            gauge(registry, "ready", "1 when /readyz answers 200.", notReady() == nil ? 1 : 0)
            registry.emit(into: &buffer)
        }
        var text = String(decoding: buffer, as: UTF8.self)
        if let extra = await sources.extraExposition?() {
            if !text.isEmpty, !text.hasSuffix("\n") { text += "\n" }
            text += extra
        }
        return text
    }

    /// Sets the gauge `pier_<name>`, registered on first use (the registry returns the same one after).
    private func gauge(_ registry: PrometheusCollectorRegistry, _ name: String, _ help: String, _ value: Int) {
        registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "pier", metricName: name, unitName: "", helpText: help))
            .set(Int64(value))
    }
}

/// Reads one request, asks the server, writes the answer and closes: the admin entrypoint is for probes,
/// scrapers and a page that polls every few seconds, not for keep-alive traffic. Confined to its channel's loop.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: AdminServer
    private var head: HTTPRequestHead?

    init(server: AdminServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let request = AdminRequest(method: head.method.rawValue, uri: head.uri, authorization: head.headers.first(name: "authorization"))
            let server = self.server, version = head.version
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.makeFutureWithTask { await server.respond(to: request) }.whenSuccess { response in
                Self.write(response, head: request.method == "HEAD", version: version, context: bound.value)
            }
        }
    }

    static func write(_ response: AdminResponse, head onlyHead: Bool, version: HTTPVersion, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: "\(response.body.count)")
        headers.add(name: "connection", value: "close")
        for (name, value) in response.headers.sorted(by: { $0.key < $1.key }) { headers.add(name: name, value: value) }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if !onlyHead {
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
        }
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
