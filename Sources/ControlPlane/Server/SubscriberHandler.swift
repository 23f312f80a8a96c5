import Logging
import NIOCore
import NIOHTTP1

/// One proxy's subscription, on one HTTP/2 stream: reads its messages, sends it the latest snapshot (one
/// pending at most: a slow proxy gets the newest, never a queue), heartbeats, and closes a proxy that does not
/// say hello in time or falls silent.
final class SubscriberHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    struct Timing: Sendable {
        var helloDeadline: TimeAmount = .seconds(5)
        var heartbeat: TimeAmount = .seconds(5)
        var deadAfter: TimeAmount = .seconds(15)
    }

    static let path = "/pier.v1/subscribe"

    /// What the streams of one connection share, on its event loop: whether a proxy said hello on it.
    final class Connection {
        var subscribed = false
    }

    private let registry: SubscriberRegistry
    private let welcome: ControlMessage.Welcome
    private let timing: Timing
    private let logger: Logger
    private let connection: NIOLoopBound<Connection>
    private var reader = ControlFrameReader(limit: ControlFrameReader.proxyLimit)
    private var context: ChannelHandlerContext?
    private var hello: ControlMessage.Hello?
    private var address = "?"
    /// The version this proxy has or was last sent.
    private var sent: String?
    /// Whether the proxy was told its version is current (a snapshot or `unchanged` went out).
    private var confirmed = false
    private var lastReceived = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var helloTimer: Scheduled<Void>?
    private var joined = false
    private var closing = false

    init(registry: SubscriberRegistry, welcome: ControlMessage.Welcome, timing: Timing, connection: NIOLoopBound<Connection>,
         logger: Logger) {
        self.registry = registry
        self.connection = connection
        self.welcome = welcome
        self.timing = timing
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        address = context.channel.parent?.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        helloTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timing.helloDeadline) { [self] in
            if hello == nil { close("no hello within \(timing.helloDeadline.nanoseconds / 1_000_000_000) s") }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        helloTimer?.cancel()
        if joined {
            registry.leave(ObjectIdentifier(self))
            logger.info("proxy disconnected", metadata: ["name": "\(hello?.name ?? "?")", "address": "\(address)"])
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard head.method == .POST, head.uri == Self.path else {
                var headers = HTTPHeaders()
                headers.add(name: "content-length", value: "0")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .notFound, headers: headers))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                closing = true
                return
            }
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/vnd.pier.control")
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        case .body(let bytes):
            guard !closing else { return }
            lastReceived = .now()
            reader.append(bytes)
            do {
                while let message = try reader.next() { receive(message) }
            } catch {
                close("\(error)")
            }
        case .end:
            close("the proxy ended its subscription")
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        close("\(error)")
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { offer() }
        context.fireChannelWritabilityChanged()
    }

    private func receive(_ message: ControlMessage) {
        let id = ObjectIdentifier(self)
        let now = secondsNow()
        switch message {
        case .hello(let hello):
            guard self.hello == nil else { return close("a second hello") }
            guard hello.protocol == ControlMessage.protocolVersion else {
                return close("protocol \(hello.protocol) is not known to this controller (it speaks \(ControlMessage.protocolVersion))")
            }
            self.hello = hello
            helloTimer?.cancel()
            sent = hello.have
            guard let context else { return }
            let loop = context.eventLoop
            let bound = NIOLoopBound(self, eventLoop: loop)
            let status = SubscriberStatus(name: hello.name, node: hello.node, pier: hello.pier, address: address, sent: nil,
                                          acked: nil, nack: nil, lastSeen: now, connectedAt: now)
            joined = registry.join(id, .init(eventLoop: loop, offer: { bound.value.offer() },
                                             goodbye: { bound.value.goodbye($0) }, status: status))
            guard joined else { return close(registry.draining ? "the controller is stopping" : "too many proxies (limit \(registry.limit))") }
            connection.value.subscribed = true
            logger.info("proxy connected", metadata: ["name": "\(hello.name)", "node": "\(hello.node)", "pier": "\(hello.pier)",
                                                      "have": "\(hello.have ?? "none")", "address": "\(address)"])
            send(.welcome(welcome))
            // Someone who already has the current version is told so, and reloads nothing: now, or when this
            // controller (just started, say) has read the engine.
            offer()
            scheduleTick(on: loop)
        case .ack(let version, let issues):
            registry.update(id) { $0.acked = version; $0.nack = nil; $0.lastSeen = now }
            logger.info("proxy acked", metadata: ["name": "\(hello?.name ?? "?")", "version": "\(version)", "issues": "\(issues)"])
        case .nack(let version, let reason):
            registry.update(id) { $0.nack = reason; $0.lastSeen = now }
            logger.warning("proxy refused a snapshot", metadata: ["name": "\(hello?.name ?? "?")", "version": "\(version)", "reason": "\(reason)"])
        case .heartbeat:
            registry.update(id) { $0.lastSeen = now }
        case .welcome, .snapshot, .unchanged, .goodbye:
            close("a proxy sent a controller's message")
        }
    }

    /// Sends the latest snapshot if this proxy does not have it and can take it now; otherwise it is sent when
    /// the stream becomes writable (by then, perhaps, a newer one).
    func offer() {
        guard let context, hello != nil, !closing, context.channel.isWritable, let latest = registry.latest else { return }
        if latest.version == sent {
            if !confirmed { send(.unchanged(version: latest.version)) }
        } else {
            sent = latest.version
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(latest.frame))), promise: nil)
        }
        confirmed = true
        registry.update(ObjectIdentifier(self)) { $0.sent = latest.version }
    }

    func goodbye(_ reason: String?) {
        guard context != nil, !closing else { return }
        if let reason { send(.goodbye(reason: reason)) }
        close(nil)
    }

    private func scheduleTick(on loop: any EventLoop) {
        timer = loop.assumeIsolated().scheduleTask(in: timing.heartbeat) { [self] in
            tick()
            if !closing { scheduleTick(on: loop) }
        }
    }

    private func tick() {
        guard !closing else { return }
        if NIODeadline.now() - lastReceived > timing.deadAfter {
            return close("no message for \(timing.deadAfter.nanoseconds / 1_000_000_000) s")
        }
        send(.heartbeat(version: sent))
    }

    private func send(_ message: ControlMessage) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        message.write(to: &buffer)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    /// Ends the subscription; `reason` is logged when it is a problem.
    private func close(_ reason: String?) {
        guard !closing, let context else { return }
        closing = true
        timer?.cancel()
        if let reason {
            logger.warning("proxy subscription closed", metadata: ["name": "\(hello?.name ?? "?")", "address": "\(address)", "reason": "\(reason)"])
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
