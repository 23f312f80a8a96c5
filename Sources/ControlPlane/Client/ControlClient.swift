import Foundation
import LabelConfig
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import Publishing
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The proxy's end of the config channel: subscribes to a controller, applies each snapshot through the
/// publisher (so the data plane swaps tables exactly as with any other source), acknowledges or refuses it,
/// and moves to another controller when this one goes (every address the controller's name resolves to is
/// tried, then a backoff). Losing every controller changes nothing for traffic: the last table stays.
public final class ControlClient: Service, Sendable {
    /// How the client runs.
    public struct Configuration: Sendable {
        /// Where controllers are: names or addresses with ports (in a stack, `controller:7443`, which resolves
        /// to every controller task). Each is resolved to all its addresses; all are tried in turn.
        public var controllers: [(host: String, port: Int)]
        /// Who this proxy is: its task name and node.
        public var name: String
        public var node: String
        /// This build's version, as the controller's log shows it.
        public var pier = "pier"
        public var heartbeat: TimeAmount = .seconds(5)
        public var deadAfter: TimeAmount = .seconds(15)
        public var backoff = Backoff()
        /// A stream that lived this long counts as healthy: the backoff starts over.
        public var healthyAfter: Duration = .seconds(10)

        public init(controllers: [(host: String, port: Int)], name: String, node: String) {
            self.controllers = controllers
            self.name = name
            self.node = node
        }
    }

    /// What the client is doing, for status and readiness.
    public struct Status: Sendable, Equatable {
        /// The controller it is subscribed to (its task name), while it is.
        public var controller: String?
        public var address: String?
        /// The version it last applied (or found current).
        public var version: String?
        /// Why the last connection attempt or subscription ended.
        public var lastProblem: String?
    }

    /// A snapshot as received, for the state file.
    public struct Received: Sendable {
        public var version: String
        public var payload: Data
        public var controller: String
    }

    private let configuration: Configuration
    private let tls: NIOSSLContext
    private let group: any EventLoopGroup
    private let publisher: Publisher
    private let adjust: @Sendable (inout BuildInputs) -> Void
    private let persist: @Sendable (Received) -> Void
    private let logger: Logger
    private let state = NIOLockedValueBox(Status())
    private let applied = NIOLockedValueBox<String?>(nil)

    /// Creates a client. `adjust` applies this proxy's own settings to every snapshot (its name as ProxyID, no
    /// access log); `persist` is called after a snapshot was applied (the state file).
    public init(configuration: Configuration, tls: NIOSSLContext, group: any EventLoopGroup, publisher: Publisher,
                adjust: @escaping @Sendable (inout BuildInputs) -> Void = { _ in },
                persist: @escaping @Sendable (Received) -> Void = { _ in }, logger: Logger) {
        self.configuration = configuration
        self.tls = tls
        self.group = group
        self.publisher = publisher
        self.adjust = adjust
        self.persist = persist
        self.logger = logger
    }

    /// What the client is doing now.
    public var status: Status { state.withLockedValue { $0 } }

    /// Applies a snapshot received or loaded: hash, decode, compile, publish. Returns the ack or nack to send.
    /// Used for the state file at start-up too (`controller` is then where it came from).
    @discardableResult
    public func apply(version: String, payload: Data, from controller: String) -> ControlMessage {
        if version == applied.withLockedValue({ $0 }) { return .ack(version: version, issues: publisher.latest?.issues.count ?? 0) }
        var inputs: BuildInputs
        do {
            inputs = try SnapshotCodec.decode(payload, version: version)
        } catch {
            logger.error("snapshot rejected; the last good routes stay live",
                         metadata: ["version": "\(version)", "controller": "\(controller)", "reason": "\(error)"])
            return .nack(version: version, reason: "\(error)")
        }
        adjust(&inputs)
        let build = Build(inputs: inputs, version: version)
        let published = publisher.publish(build)
        applied.withLockedValue { $0 = version }
        state.withLockedValue { $0.version = version }
        logger.info(published == nil ? "snapshot applied; routes unchanged" : "snapshot applied",
                    metadata: ["version": "\(version)", "controller": "\(controller)",
                               "generation": "\(publisher.latest?.generation ?? 0)"])
        return .ack(version: version, issues: build.result.issues.count)
    }

    public func run() async throws {
        var backoff = configuration.backoff
        // Whether the loss of every controller was said since the last subscription.
        var announced = false
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            var addresses: [SocketAddress] = []
            for (host, port) in configuration.controllers {
                do {
                    addresses += try await Self.resolve(host, port: port)
                } catch {
                    record(problem: "cannot resolve \(host): \(error)")
                }
            }
            // Each address in turn; after an end (a goodbye included) the next one at once.
            var saidGoodbye = false
            for address in addresses {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                let started = ContinuousClock.now
                let outcome = await session(address)
                if outcome != .refused { announced = false }
                saidGoodbye = outcome == .goodbye
                if ContinuousClock.now - started >= configuration.healthyAfter { backoff.reset() }
            }
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            // A controller that said goodbye is being replaced: resolve again at once (the name now lists its
            // successor), without calling it a loss.
            if saidGoodbye { continue }
            if !announced {
                announced = true
                let version = applied.withLockedValue { $0 }
                let problem = state.withLockedValue { $0.lastProblem } ?? "no controller address"
                if let version {
                    logger.warning("no controller reachable; serving the last good routes",
                                   metadata: ["version": "\(version)", "reason": "\(problem)"])
                } else {
                    logger.warning("no controller reachable and no table yet", metadata: ["reason": "\(problem)"])
                }
            }
            try? await Task.sleep(for: backoff.next())
        }
    }

    private func record(problem: String) {
        state.withLockedValue { $0.lastProblem = problem; $0.controller = nil; $0.address = nil }
        logger.debug("controller unavailable", metadata: ["reason": "\(problem)"])
    }

    private enum Outcome { case refused, ended, goodbye }

    /// One subscription to the controller at `address`, until it ends.
    private func session(_ address: SocketAddress) async -> Outcome {
        let (events, continuation) = AsyncStream.makeStream(of: SubscriptionEvent.self)
        let errors = FirstErrorRecorder()
        let hello = ControlMessage.Hello(name: configuration.name, node: configuration.node, pier: configuration.pier,
                                         have: applied.withLockedValue { $0 })
        let tls = self.tls, configuration = self.configuration, applied = self.applied
        let stream: any Channel
        let parent: any Channel
        do {
            parent = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(3))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: ControlPlaneNames.controller))
                        try sync.addHandler(errors)
                        var connection = NIOHTTP2Handler.ConnectionConfiguration()
                        connection.initialSettings = [
                            HTTP2Setting(parameter: .maxConcurrentStreams, value: 4),
                            HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
                        ]
                        _ = try sync.configureHTTP2Pipeline(mode: .client, connectionConfiguration: connection,
                                                            streamConfiguration: .init()) { $0.eventLoop.makeSucceededVoidFuture() }
                    }
                }
                .connect(to: address).get()
            stream = try await parent.eventLoop.flatSubmit {
                let promise = parent.eventLoop.makePromise(of: (any Channel).self)
                do {
                    let multiplexer = try parent.pipeline.syncOperations.handler(type: NIOHTTP2Handler.self).syncMultiplexer()
                    multiplexer.createStreamChannel(promise: promise) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .https))
                            try stream.pipeline.syncOperations.addHandler(SubscriptionHandler(
                                hello: hello, events: continuation, heartbeat: configuration.heartbeat,
                                deadAfter: configuration.deadAfter, applied: applied))
                        }
                    }
                } catch {
                    promise.fail(error)
                }
                return promise.futureResult
            }.get()
        } catch {
            continuation.finish()
            record(problem: "\(address): " + (errors.error.withLockedValue { $0 } ?? "\(error)"))
            return .refused
        }
        defer { parent.close(promise: nil) }
        var controller = "?"
        var welcomed = false
        var goodbye = false
        let stopping = NIOLockedValueBox(false)
        await withGracefulShutdownHandler {
            for await event in events {
                switch event {
                case .message(.welcome(let welcome)):
                    controller = welcome.controller
                    welcomed = true
                    state.withLockedValue { $0.controller = welcome.controller; $0.address = "\(address)"; $0.lastProblem = nil }
                    logger.info("connected to controller", metadata: ["controller": "\(welcome.controller)", "node": "\(welcome.node)",
                                                                      "address": "\(address)"])
                case .message(.snapshot(let version, let payload)):
                    let reply = apply(version: version, payload: payload, from: controller)
                    if case .ack = reply { persist(Received(version: version, payload: payload, controller: controller)) }
                    send(reply, on: stream)
                case .message(.unchanged(let version)):
                    logger.info("snapshot unchanged", metadata: ["version": "\(version)", "controller": "\(controller)"])
                case .message(.heartbeat):
                    break
                case .message(.goodbye(let reason)):
                    logger.info("controller said goodbye", metadata: ["controller": "\(controller)", "reason": "\(reason)"])
                    goodbye = true
                    stream.close(promise: nil)
                case .message(let other):
                    logger.warning("unexpected message from the controller", metadata: ["message": "\(other.kind)"])
                    stream.close(promise: nil)
                case .closed(let reason):
                    if !stopping.withLockedValue({ $0 }) {
                        let why = errors.error.withLockedValue { $0 } ?? reason
                        record(problem: "\(address): \(why)")
                        if welcomed {
                            logger.info("subscription ended", metadata: ["controller": "\(controller)", "reason": "\(why)"])
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            stopping.withLockedValue { $0 = true }
            stream.close(promise: nil)
        }
        return goodbye ? .goodbye : welcomed ? .ended : .refused
    }

    private func send(_ message: ControlMessage, on stream: any Channel) {
        var buffer = stream.allocator.buffer(capacity: 128)
        message.write(to: &buffer)
        stream.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
    }

    /// Every address `host` resolves to, shuffled (each proxy picks its own first controller).
    static func resolve(_ host: String, port: Int) async throws -> [SocketAddress] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var result: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &result)
            guard status == 0, let first = result else {
                throw SnapshotError(description: String(cString: gai_strerror(status)))
            }
            defer { freeaddrinfo(first) }
            var addresses: [SocketAddress] = []
            var next: UnsafeMutablePointer<addrinfo>? = first
            while let info = next {
                if let sockaddr = info.pointee.ai_addr {
                    let address: SocketAddress? = switch Int32(info.pointee.ai_family) {
                    case AF_INET: sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) }
                    case AF_INET6: sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) }
                    default: nil
                    }
                    if let address, !addresses.contains(address) { addresses.append(address) }
                }
                next = info.pointee.ai_next
            }
            return addresses.shuffled()
        }
    }
}

/// Names both ends of the channel agree on.
public enum ControlPlaneNames {
    /// The name in every controller certificate; proxies verify it whatever address they dialled.
    public static let controller = "pier-controller"
}
