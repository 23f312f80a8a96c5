import Logging
import NIOCore
import NIOHTTP1
import RouteModel

/// The last handler of a downstream HTTP/1.1 connection: reads the current route table snapshot once per
/// request, asks `HTTPProxyStateMachine` what to do with each event of either side, and does it: writes,
/// upstream connections from the event loop's pool, timers, backpressure, and the order of pipelined requests.
///
/// Owned by the connection's event loop; the upstream connections it uses live on the same loop. It does
/// not parse HTTP (NIO's decoder does), decide anything about routing or HTTP semantics (the planner and the
/// state machine do), block or hop threads.
final class HTTPProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamConnectionDelegate {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let tables: RouteTableBox
    private let loop: LoopState
    let accessLogger: Logger
    private var downstream: Downstream
    private var context: ChannelHandlerContext!
    private var machine = HTTPProxyStateMachine()
    private var upstream: UpstreamConnection?
    private(set) var clientIP: String?
    /// One timer per connection, for whichever deadline comes first (keep-alive idle, upstream read,
    /// client body): deadlines move with every request, the timer is re-armed only when one moves earlier,
    /// so a busy keep-alive connection schedules almost nothing.
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var idleSince: NIODeadline?
    private var idleTimeout: TimeAmount = .seconds(75)
    private var headerTimeout: TimeAmount = .seconds(60)
    /// Notes the first byte of a request head (nil on HTTP/2 streams, whose heads arrive whole).
    private let headWatcher: RequestHeadWatcher?
    private var readDeadline: NIODeadline?
    private var bodyDeadline: NIODeadline?
    private var readsPaused = false {
        didSet { if readsPaused != oldValue { pausedSince = readsPaused ? .now() : nil } }
    }
    /// Since when Pier has held the client's reads (upstream connecting or not reading).
    private var pausedSince: NIODeadline?
    private var pendingRead = false
    /// Pipelined input that arrived while an exchange was still under way: requests are answered in order
    /// (RFC 9112 §9.3.2). Reads pause only when too much has queued, so the common case — no pipelining —
    /// never toggles the socket's read interest.
    // A plain array: empty, it allocates nothing, which matters for thousands of idle connections; it
    // holds at most `maxQueuedParts` entries when used.
    private var queued: [QueuedInput] = []
    private var queuedBytes = 0
    private var queueFull = false
    private var draining = false

    private enum QueuedInput {
        case part(HTTPServerRequestPart)
        case error(HTTPParserError)
    }

    private static let maxQueuedParts = 64
    private static let maxQueuedBytes = 64 * 1024

    init(tables: RouteTableBox, loop: LoopState, accessLogger: Logger, downstream: Downstream = .http,
         headWatcher: RequestHeadWatcher? = nil) {
        self.headWatcher = headWatcher
        self.tables = tables
        self.loop = loop
        self.accessLogger = accessLogger
        self.downstream = downstream
    }

    // MARK: - Downstream channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { channelBecameActive(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        channelBecameActive(context)
        context.fireChannelActive()
    }

    private func channelBecameActive(_ context: ChannelHandlerContext) {
        clientIP = downstream.clientIP ?? context.channel.remoteAddress?.ipAddress
        if downstream.port == nil { downstream.port = context.channel.localAddress?.port }
        if !downstream.multiplexed { armKeepAliveTimer(tables.current.settings) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        // The connection is closing once its last response is written: later input is not answered.
        if machine.closing, machine.exchange == nil { return }
        if !queued.isEmpty || (machine.exchange != nil && part.isHead) {
            return enqueue(.part(part))
        }
        handle(part)
    }

    private func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            idleSince = nil
            headWatcher?.headReceived()
            let table = tables.current
            let requestID = head.headers.first(name: "x-request-id").flatMap { ForwardedHeaders.isValidRequestID($0) ? $0 : nil }
                ?? loop.makeRequestID()
            let now = NIODeadline.now()
            let plan = RequestPlanner.plan(head, table: table, requestID: requestID, clientIP: clientIP, downstream: downstream) { pool, key in
                loop.pick(pool, in: table, affinityKey: key, now: now.uptimeNanoseconds)
            }
            run(machine.requestHead(head, plan: plan, table: table, requestID: requestID, now: now))
            if let exchange = machine.exchange, !exchange.requestEnded { armBodyTimer(exchange.settings.clientBodyTimeout) }
        case .body(let buffer):
            run(machine.requestBody(buffer, now: .now()))
        case .end(let trailers):
            bodyDeadline = nil
            run(machine.requestEnd(trailers, now: .now()))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        upstream?.channel.flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused || queueFull {
            pendingRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        upstream?.readsPaused = !context.channel.isWritable
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        readDeadline = nil
        bodyDeadline = nil
        idleSince = nil
        // The client left: an attached upstream connection is in an unknown state, never reuse it.
        dropUpstream()
        if let exchange = machine.downstreamClosed() { ended(exchange) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let parserError = error as? HTTPParserError else {
            context.close(promise: nil)
            return
        }
        // Malformed input: nothing of it reaches an upstream. After pipelined requests still waiting, it
        // waits its turn too, so that their answers come first.
        // An error in the current request (its body) is answered at once; one after a complete request
        // belongs to a pipelined request and waits its turn.
        if !queued.isEmpty || (machine.exchange?.requestEnded ?? false) {
            return enqueue(.error(parserError))
        }
        run(machine.parserError(parserError, settings: tables.current.settings))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: an idle connection closes now, a busy one after its current response.
            if (machine.isIdle && queued.isEmpty) || (machine.exchange?.responseEnded ?? false) {
                // Idle, or only reading and dropping the body of a request already answered.
                context.close(promise: nil)
            } else {
                machine.quiesce()
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Pipelining

    private func enqueue(_ input: QueuedInput) {
        queued.append(input)
        if case .part(.body(let buffer)) = input { queuedBytes += buffer.readableBytes }
        if queued.count > Self.maxQueuedParts || queuedBytes > Self.maxQueuedBytes { queueFull = true }
    }

    /// Hands queued input over, in order, while no exchange is under way.
    private func drainQueue() {
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while let next = queued.first, !machine.closing {
            if case .part(let part) = next, part.isHead, machine.exchange != nil { break }
            if case .error = next, machine.exchange != nil { break }
            queued.removeFirst()
            switch next {
            case .part(let part):
                if case .body(let buffer) = part { queuedBytes -= buffer.readableBytes }
                handle(part)
            case .error(let error):
                run(machine.parserError(error, settings: tables.current.settings))
            }
        }
        if queueFull, queued.count <= Self.maxQueuedParts / 2, queuedBytes <= Self.maxQueuedBytes / 2 {
            queueFull = false
            if !readsPaused, pendingRead {
                pendingRead = false
                context.read()
            }
        }
    }

    // MARK: - Upstream events

    func upstreamReceived(_ part: HTTPClientResponsePart) {
        guard let upstream else { return }
        switch part {
        case .head(let head):
            let failed = (502...504).contains(head.status.code)
            if let exchange = machine.exchange { report(exchange, failed: failed) }
            run(machine.responseHead(head, upstream: upstream.address, now: .now(), pickAnother: { retryTarget(for: $0, excluding: $1) }))
        case .body(let buffer):
            run(machine.responseBody(buffer, now: .now()))
        case .end(let trailers):
            readDeadline = nil
            run(machine.responseEnd(trailers))
        }
    }

    func upstreamReadComplete() {
        context.flush()
    }

    func upstreamFailed(_ error: Error?) {
        upstream = nil
        readDeadline = nil
        // A pooled connection closing as it was reused is a race with the endpoint's idle timeout, not a
        // sign of bad health.
        if let exchange = machine.exchange, exchange.phase == .forwarding, !exchange.responseStarted, !exchange.reusedUpstream {
            report(exchange, failed: true)
        }
        run(machine.upstreamClosed(pickAnother: { retryTarget(for: $0, excluding: $1) }))
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable { resumeReads() } else { readsPaused = true }
    }

    // MARK: - Actions

    private func run(_ action: HTTPProxyStateMachine.Action) {
        switch action {
        case .none:
            break
        case .answer(let answer):
            if answer.dropUpstream { dropUpstream() }
            readDeadline = nil
            if let finished = answer.finished { finish(finished) }
            resumeReads()
            writeLocal(answer)
            if answer.keepAlive { drainQueue() }
            if answer.finished == nil, let exchange = machine.exchange, !exchange.requestEnded {
                armBodyTimer(answer.settings.clientBodyTimeout)
            }
        case .acquireUpstream(let endpoint, let sendContinue):
            if sendContinue {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
            }
            acquire(endpoint, fresh: false)
        case .retry(let endpoint, let fresh, let drop):
            if drop { dropUpstream() }
            readDeadline = nil
            acquire(endpoint, fresh: fresh)
        case .sendRequest(let parts, let armReadTimer):
            guard let upstream else { return }
            for part in parts { upstream.write(part, flush: false) }
            upstream.channel.flush()
            if armReadTimer { self.armReadTimer() }
        case .forwardBody(let buffer):
            upstream?.write(.body(.byteBuffer(buffer)), flush: false)
        case .forwardEnd(let trailers):
            upstream?.write(.end(trailers), flush: true)
            armReadTimer()
        case .writeResponseHead(let head):
            context.write(wrapOutboundOut(.head(head)), promise: nil)
        case .writeResponseBody(let buffer):
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            if !context.channel.isWritable { upstream?.readsPaused = true }
        case .writeResponseEnd(let trailers, let releaseUpstream, let close, let finished):
            if releaseUpstream { releaseUpstreamToPool(finished.settings) } else { dropUpstream() }
            // Finish first: writing `.end` lets the pipelining assistant hand over the next request at once.
            finish(finished)
            if close {
                context.writeAndFlush(wrapOutboundOut(.end(trailers))).assumeIsolated().whenComplete { [context] _ in
                    context?.close(promise: nil)
                }
            } else {
                context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
                drainQueue()
            }
        case .abort(let finished):
            dropUpstream()
            readDeadline = nil
            bodyDeadline = nil
            if let finished { ended(finished) }
            context.close(promise: nil)
        case .rescheduleReadTimer(let delay):
            readDeadline = .now() + delay
            ensureTimer(readDeadline!)
        case .rescheduleBodyTimer(let delay):
            bodyDeadline = .now() + delay
            ensureTimer(bodyDeadline!)
        case .finished(let exchange):
            finish(exchange)
            drainQueue()
        case .startTunnel(let head, let finished):
            startTunnel(head, finished: finished)
        }
    }

    /// The upstream switched protocols: the client gets the 101, then both connections become a byte relay
    /// and this handler leaves the pipeline. The tunnel keeps its endpoint whatever later tables say.
    private func startTunnel(_ head: HTTPResponseHead, finished: HTTPExchange) {
        timer?.cancel()
        timer = nil
        readDeadline = nil
        bodyDeadline = nil
        idleSince = nil
        ended(finished)
        guard let connection = upstream else { return context.close(promise: nil) }
        upstream = nil
        connection.delegate = nil
        context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
        do {
            try HTTPTunnel.splice(downstream: context, upstream: connection.channel,
                                  idleTimeout: TimeAmount(finished.settings.readTimeout))
        } catch {
            connection.close()
            context.close(promise: nil)
        }
    }

    /// Gets the exchange a connection to `endpoint`: an idle pooled one unless `fresh`, else a new one.
    private func acquire(_ endpoint: Endpoint, fresh: Bool) {
        if let exchange = machine.exchange, exchange.pool?.policy == .leastConnections, exchange.countedOn != endpoint {
            if let previous = exchange.countedOn { loop.requestEnded(on: previous) }
            loop.requestStarted(on: endpoint)
            exchange.countedOn = endpoint
        }
        if !fresh, machine.exchange?.upstreamProtocol != .h2c, let idle = loop.pool.takeIdle(endpoint) {
            attach(idle, reused: true)
        } else {
            connect(endpoint)
        }
    }

    /// The exchange is over: least-connections stops counting it, the access log gets its line.
    private func ended(_ exchange: HTTPExchange) {
        if let endpoint = exchange.countedOn {
            exchange.countedOn = nil
            loop.requestEnded(on: endpoint)
        }
        log(exchange)
    }

    /// Passive health: what the exchange's current endpoint just did.
    private func report(_ exchange: HTTPExchange, failed: Bool) {
        guard let endpoint = exchange.endpoint, let pool = exchange.pool else { return }
        if failed {
            loop.reportFailure(endpoint, health: pool.passiveHealth, now: NIODeadline.now().uptimeNanoseconds)
        } else {
            loop.reportSuccess(endpoint)
        }
    }

    /// Another endpoint of the exchange's pool for a retry, within the budget (the state machine's chooser;
    /// passed as a non-escaping closure, so that no closure is allocated per response).
    private func retryTarget(for exchange: HTTPExchange, excluding excluded: [Endpoint]) -> Endpoint? {
        guard let pool = exchange.pool else { return nil }
        return loop.pickForRetry(pool, affinityKey: exchange.affinityKey, excluding: excluded, now: NIODeadline.now().uptimeNanoseconds)
    }

    private func connect(_ endpoint: Endpoint) {
        // Hold client reads until the upstream can take the body: memory stays bounded.
        readsPaused = true
        let exchange = machine.exchange
        let settings = exchange?.settings ?? tables.current.settings
        let upstreamProtocol = exchange?.upstreamProtocol ?? .http1
        loop.pool.connect(endpoint, protocol: upstreamProtocol, timeout: settings.connectTimeout).assumeIsolated().whenComplete { [self] result in
            guard let exchange, machine.exchange === exchange, exchange.phase == .connecting else {
                // The exchange ended meanwhile (client gone, local answer): keep the connection for others.
                if case .success(let connection) = result {
                    loop.pool.release(connection, maxIdle: settings.maxIdleUpstreamConnections, idleTimeout: settings.upstreamIdleTimeout)
                }
                return
            }
            switch result {
            case .success(let connection):
                attach(connection, reused: false)
            case .failure(let error):
                let timedOut: Bool
                if case ChannelError.connectTimeout = error { timedOut = true } else { timedOut = false }
                report(exchange, failed: true)
                run(machine.upstreamConnectFailed(timedOut: timedOut, pickAnother: { retryTarget(for: $0, excluding: $1) }))
            }
        }
    }

    private func attach(_ connection: UpstreamConnection, reused: Bool) {
        upstream = connection
        connection.delegate = self
        connection.readsPaused = !context.channel.isWritable
        run(machine.upstreamAttached(reused: reused, now: .now()))
        if connection.channel.isWritable { resumeReads() } else { readsPaused = true }
    }

    private func releaseUpstreamToPool(_ settings: ProxySettings) {
        guard let connection = upstream else { return }
        upstream = nil
        loop.pool.release(connection, maxIdle: settings.maxIdleUpstreamConnections, idleTimeout: settings.upstreamIdleTimeout)
    }

    private func dropUpstream() {
        guard let connection = upstream else { return }
        upstream = nil
        connection.delegate = nil
        connection.close()
    }

    private func resumeReads() {
        if readsPaused { machine.clientReadsResumed(now: .now()) }
        readsPaused = false
        if pendingRead, !queueFull {
            pendingRead = false
            context.read()
        }
    }

    private func writeLocal(_ answer: HTTPProxyStateMachine.Answer) {
        let hide = answer.settings.hideInfoHeaders
        let head = answer.response.head(version: answer.version, keepAlive: answer.keepAlive, requestID: hide ? nil : answer.requestID,
                                        proxyID: hide ? nil : answer.settings.proxyID, serverInfo: hide ? nil : PierVersion.serverInfo)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        var body = context.channel.allocator.buffer(capacity: answer.response.body.utf8.count)
        body.writeString(answer.response.body)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if answer.keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { [context] _ in
                context?.close(promise: nil)
            }
        }
    }

    /// Logs a finished exchange and, when the connection stays, starts the keep-alive timer.
    private func finish(_ exchange: HTTPExchange) {
        bodyDeadline = nil
        ended(exchange)
        // The exchange's own snapshot: no second read of the route table box per request.
        if machine.isIdle { armKeepAliveTimer(exchange.settings) }
    }

    // MARK: - Timers

    private func armKeepAliveTimer(_ settings: ProxySettings) {
        // An HTTP/2 stream carries one exchange; the connection's idleness is HTTP2IdleTimer's business.
        if downstream.multiplexed { return }
        let now = NIODeadline.now()
        idleSince = now
        idleTimeout = TimeAmount(settings.keepaliveTimeout)
        headerTimeout = TimeAmount(settings.clientHeaderTimeout)
        headWatcher?.awaitHead()
        // A head that starts now is due by now + headerTimeout at the earliest: checking then catches it in
        // time without a timer per request (the check re-arms for the real deadline).
        ensureTimer(now + min(idleTimeout, headerTimeout))
    }

    private func armReadTimer() {
        guard let exchange = machine.exchange else { return }
        readDeadline = .now() + TimeAmount(exchange.settings.readTimeout)
        ensureTimer(readDeadline!)
    }

    private func armBodyTimer(_ timeout: Duration) {
        bodyDeadline = .now() + TimeAmount(timeout)
        ensureTimer(bodyDeadline!)
    }

    /// Makes sure the timer fires no later than `deadline`.
    private func ensureTimer(_ deadline: NIODeadline) {
        if let timerDeadline, timerDeadline <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            timerDeadline = nil
            timerFired()
        }
    }

    private func timerFired() {
        let now = NIODeadline.now()
        if let idleSince, machine.isIdle {
            if let start = headWatcher?.headStart {
                // A head is on its way: only the header timeout counts now.
                if now - start >= headerTimeout {
                    self.idleSince = nil
                    run(machine.clientHeaderTimedOut(settings: tables.current.settings))
                    return
                }
                ensureTimer(start + headerTimeout)
            } else {
                if now - idleSince >= idleTimeout {
                    context.close(promise: nil)
                    return
                }
                ensureTimer(min(idleSince + idleTimeout, now + headerTimeout))
            }
        }
        if let deadline = readDeadline, let exchange = machine.exchange {
            if now >= deadline {
                readDeadline = nil
                if !exchange.responseStarted, now - exchange.lastUpstreamActivity >= TimeAmount(exchange.settings.readTimeout) {
                    report(exchange, failed: true)
                }
                run(machine.readTimerFired(now: now, timeout: TimeAmount(exchange.settings.readTimeout)))
            } else {
                ensureTimer(deadline)
            }
        }
        if let deadline = bodyDeadline, let exchange = machine.exchange {
            if readsPaused {
                // Pier is holding the client's reads, not the client stalling. Past the send timeout the
                // upstream is the one not reading (`SendTimeout`): that exchange ends with 504.
                if let pausedSince, now - pausedSince >= TimeAmount(exchange.settings.sendTimeout) {
                    bodyDeadline = nil
                    run(machine.upstreamSendTimedOut())
                } else {
                    bodyDeadline = now + TimeAmount(exchange.settings.clientBodyTimeout)
                    ensureTimer(bodyDeadline!)
                }
            } else if now >= deadline {
                bodyDeadline = nil
                run(machine.clientBodyTimerFired(now: now, timeout: TimeAmount(exchange.settings.clientBodyTimeout)))
            } else {
                ensureTimer(deadline)
            }
        }
    }
}

extension HTTPServerRequestPart {
    fileprivate var isHead: Bool {
        if case .head = self { return true }
        return false
    }
}
