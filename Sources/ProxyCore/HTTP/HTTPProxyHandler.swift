import Logging
import NIOCore
import NIOHTTP1
import RouteModel

/// The last handler of a downstream HTTP/1.1 connection: routes each request with the current route table
/// snapshot and proxies it to an upstream connection of the same event loop, streaming bodies both ways
/// with backpressure.
///
/// Owned by the connection's event loop. It does not parse HTTP (NIO's decoder does) nor order pipelined
/// requests (`HTTPServerPipelineHandler` hands it one request at a time); it never blocks and never hops.
final class HTTPProxyHandler: ChannelDuplexHandler, UpstreamConnectionDelegate {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let tables: RouteTableBox
    private let loop: LoopState
    private let accessLogger: Logger
    private let proto: String
    private var context: ChannelHandlerContext!
    private var exchange: HTTPExchange?
    private var clientIP: String?
    private var keepAliveTimer: Scheduled<Void>?
    private var readsPaused = false
    private var pendingRead = false
    private var closing = false

    init(tables: RouteTableBox, loop: LoopState, accessLogger: Logger, proto: String = "http") {
        self.tables = tables
        self.loop = loop
        self.accessLogger = accessLogger
        self.proto = proto
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        clientIP = context.channel.remoteAddress?.ipAddress
        if context.channel.isActive { armKeepAliveTimer() }
    }

    func channelActive(context: ChannelHandlerContext) {
        clientIP = context.channel.remoteAddress?.ipAddress
        armKeepAliveTimer()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): receivedHead(head)
        case .body(let buffer): receivedBody(buffer)
        case .end(let trailers): receivedEnd(trailers)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let exchange, exchange.phase == .forwarding, let upstream = exchange.upstream {
            upstream.channel.flush()
        }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            pendingRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        exchange?.upstream?.readsPaused = !context.channel.isWritable
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepAliveTimer?.cancel()
        if let exchange {
            exchange.readTimer?.cancel()
            exchange.clientBodyTimer?.cancel()
            if let upstream = exchange.upstream {
                // The client left mid-exchange: the upstream connection's state is unknown, never reuse it.
                upstream.delegate = nil
                upstream.close()
            }
            if !exchange.responseEnded { log(exchange, note: "client closed") }
            self.exchange = nil
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let parserError = error as? HTTPParserError else {
            context.close(promise: nil)
            return
        }
        // Malformed input: answer if no response has started, then close; nothing reaches an upstream.
        if exchange?.responseStarted ?? false {
            context.close(promise: nil)
            return
        }
        if let exchange { detachUpstream(exchange, reusable: false) }
        let status: HTTPResponseStatus
        switch parserError {
        case .headerOverflow: status = .requestHeaderFieldsTooLarge
        default: status = .badRequest
        }
        let settings = exchange?.table.settings ?? tables.current.settings
        closing = true
        if let exchange {
            exchange.status = status.code
            exchange.responseEnded = true
            finish(exchange)
        }
        writeLocal(.error(status, "malformed request (\(parserError))"), version: .http1_1, keepAlive: false,
                   requestID: exchange?.requestID, settings: settings)
    }

    // MARK: - Request side

    private func receivedHead(_ head: HTTPRequestHead) {
        keepAliveTimer?.cancel()
        keepAliveTimer = nil
        let table = tables.current
        let settings = table.settings
        let requestID = head.headers.first(name: "x-request-id").flatMap { ForwardedHeaders.isValidRequestID($0) ? $0 : nil }
            ?? loop.makeRequestID()
        let exchange = HTTPExchange(head: head, table: table, requestID: requestID, keepAlive: head.isKeepAlive)
        self.exchange = exchange

        if let problem = RequestValidation.problem(head) {
            return answer(exchange, .error(.badRequest, problem), close: true)
        }
        if let length = RequestValidation.contentLength(head), let max = settings.clientMaxBodySize, max > 0, length > max {
            return answer(exchange, .error(.payloadTooLarge, "request body of \(length) bytes is over the \(max)-byte limit"), close: true)
        }
        var host = head.headers.first(name: "host")
        var target = head.uri
        var authority: String?
        if !target.hasPrefix("/") {
            guard let absolute = AbsoluteForm(target) else {
                return answer(exchange, .error(.badRequest, "request target must be a path or an absolute http URL"), close: true)
            }
            host = absolute.authority
            authority = absolute.authority
            target = absolute.pathAndQuery
        }
        if let expect = head.headers.first(name: "expect") {
            guard expect.lowercased() == "100-continue" else {
                return answer(exchange, .error(.expectationFailed, "only Expect: 100-continue is supported"), close: true)
            }
            // Answered locally, the client may still be waiting to send its body: close rather than
            // wait for a body that may never come.
            exchange.expectsContinue = true
        }
        armClientBodyTimer(exchange)

        switch table.decide(host: host, target: target) {
        case .noRoute:
            answer(exchange, .error(.serviceUnavailable, "no service is routed for this host"), close: false)
        case .notFound:
            answer(exchange, .error(.notFound, "no context root of this host matches the path"), close: false)
        case .redirect(let location, let status):
            answer(exchange, .redirect(to: location, status: status), close: false)
        case .forward(_, let pool, let upstreamTarget):
            guard let endpoint = loop.nextEndpoint(in: pool, generation: table.generation) else {
                return answer(exchange, .error(.serviceUnavailable, "service \(pool.services.joined(separator: ",")) has no running endpoint"), close: false)
            }
            exchange.pool = pool
            exchange.endpoint = endpoint
            exchange.upstreamHead = ForwardedHeaders.upstreamHead(
                from: head, target: upstreamTarget, authority: authority, clientIP: clientIP, requestID: requestID, proto: proto)
            if exchange.expectsContinue, head.version.minor >= 1 {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
            connectUpstream(exchange)
        }
    }

    private func receivedBody(_ buffer: ByteBuffer) {
        guard let exchange else { return }
        exchange.lastClientActivity = .now()
        exchange.bodyBytes += Int64(buffer.readableBytes)
        if let max = exchange.table.settings.clientMaxBodySize, max > 0, exchange.bodyBytes > max, exchange.phase != .answeredLocally {
            detachUpstream(exchange, reusable: false)
            if exchange.responseStarted {
                context.close(promise: nil)
            } else {
                answer(exchange, .error(.payloadTooLarge, "request body is over the \(max)-byte limit"), close: true)
            }
            return
        }
        switch exchange.phase {
        case .answeredLocally:
            break
        case .connecting:
            exchange.buffered.append(.body(.byteBuffer(buffer)))
        case .forwarding:
            exchange.bodyForwarded = true
            exchange.upstream?.write(.body(.byteBuffer(buffer)), flush: false)
        }
    }

    private func receivedEnd(_ trailers: HTTPHeaders?) {
        guard let exchange else { return }
        exchange.requestEnded = true
        exchange.clientBodyTimer?.cancel()
        switch exchange.phase {
        case .answeredLocally:
            if exchange.responseEnded { finish(exchange) }
        case .connecting:
            exchange.buffered.append(.end(trailers))
        case .forwarding:
            exchange.upstream?.write(.end(trailers), flush: true)
            armReadTimer(exchange)
        }
    }

    // MARK: - Upstream side

    private func connectUpstream(_ exchange: HTTPExchange) {
        guard let endpoint = exchange.endpoint else { return }
        exchange.attempts += 1
        exchange.phase = .connecting
        if let idle = loop.pool.takeIdle(endpoint) {
            return attach(idle, to: exchange)
        }
        // Hold client reads until the upstream can take the body: memory stays bounded.
        readsPaused = true
        let settings = exchange.table.settings
        loop.pool.connect(endpoint, timeout: settings.connectTimeout).assumeIsolated().whenComplete { [self] result in
            guard self.exchange === exchange, !closing else {
                if case .success(let connection) = result {
                    loop.pool.release(connection, maxIdle: settings.maxIdleUpstreamConnections, idleTimeout: settings.upstreamIdleTimeout)
                }
                return
            }
            switch result {
            case .success(let connection):
                attach(connection, to: exchange)
            case .failure(let error):
                connectFailed(exchange, endpoint: endpoint, error: error)
            }
        }
    }

    private func connectFailed(_ exchange: HTTPExchange, endpoint: Endpoint, error: Error) {
        resumeReads()
        if case ChannelError.connectTimeout = error {
            answer(exchange, .error(.gatewayTimeout, "upstream \(endpoint) did not accept the connection in time"), close: !exchange.requestEnded)
        } else {
            answer(exchange, .error(.badGateway, "upstream \(endpoint) refused the connection"), close: !exchange.requestEnded)
        }
    }

    private func attach(_ connection: UpstreamConnection, to exchange: HTTPExchange) {
        exchange.upstream = connection
        exchange.phase = .forwarding
        connection.delegate = self
        connection.readsPaused = !context.channel.isWritable
        exchange.upstreamSentNanos = NIODeadline.now().uptimeNanoseconds
        connection.write(.head(exchange.upstreamHead!), flush: false)
        for part in exchange.buffered {
            if case .body = part { exchange.bodyForwarded = true }
            connection.write(part, flush: false)
        }
        exchange.buffered.removeAll()
        connection.channel.flush()
        if exchange.requestEnded { armReadTimer(exchange) }
        readsPaused = !connection.channel.isWritable
        if !readsPaused { resumeReads() }
    }

    func upstreamReceived(_ part: HTTPClientResponsePart) {
        guard let exchange, let upstream = exchange.upstream else { return }
        exchange.lastUpstreamActivity = .now()
        switch part {
        case .head(let head):
            exchange.responseStarted = true
            exchange.status = head.status.code
            exchange.upstreamKeepAlive = head.isKeepAlive
            if exchange.head.version.minor == 0, !ForwardedHeaders.keepsContentLength(head.headers),
                exchange.head.method != .HEAD, head.status.mayHaveResponseBody
            {
                // An HTTP/1.0 client can only see the end of an unsized body as the connection closing.
                exchange.keepAlive = false
            }
            let settings = exchange.table.settings
            let elapsed = Double(NIODeadline.now().uptimeNanoseconds - exchange.upstreamSentNanos) / 1e9
            let info = settings.hideInfoHeaders ? nil : ForwardedHeaders.InfoHeaders(
                requestID: exchange.requestID, proxyID: settings.proxyID, serverInfo: PierVersion.serverInfo,
                upstreamAddress: upstream.endpoint.description,
                upstreamResponseTime: String(format3: elapsed))
            let out = ForwardedHeaders.downstreamHead(from: head, clientVersion: exchange.head.version,
                                                      keepAlive: exchange.keepAlive && !closing, info: info)
            context.write(wrapOutboundOut(.head(out)), promise: nil)
        case .body(let buffer):
            exchange.responseBytes += buffer.readableBytes
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            if !context.channel.isWritable { upstream.readsPaused = true }
        case .end(let trailers):
            exchange.responseEnded = true
            exchange.readTimer?.cancel()
            let reusable = exchange.upstreamKeepAlive && exchange.requestEnded
            detachUpstream(exchange, reusable: reusable)
            if !exchange.requestEnded {
                // The upstream answered before the body was all sent (an early error): the rest of the body
                // would have to be read and dropped; closing is simpler and safe.
                exchange.keepAlive = false
            }
            let keepAlive = exchange.keepAlive && !closing
            // Finish first: writing `.end` lets the pipelining assistant hand us the next request at once.
            finish(exchange)
            let promise: EventLoopPromise<Void>? = keepAlive ? nil : context.eventLoop.makePromise()
            context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: promise)
            promise?.futureResult.assumeIsolated().whenComplete { [context] _ in context?.close(promise: nil) }
        }
    }

    func upstreamReadComplete() {
        context.flush()
    }

    func upstreamFailed(_ error: Error?) {
        guard let exchange else { return }
        exchange.readTimer?.cancel()
        let reused = (exchange.upstream?.requestsServed ?? 0) > 0
        exchange.upstream = nil
        if exchange.responseStarted {
            // Mid-response: the client cannot be told anything but a truncated message.
            log(exchange, note: "upstream closed mid-response")
            context.close(promise: nil)
            return
        }
        if reused, !exchange.bodyForwarded, exchange.attempts < 2, exchange.head.method.isIdempotent {
            // A pooled connection closed by the upstream as we reused it: the request never reached the
            // application, so it is safe to send it again on a fresh connection.
            exchange.buffered.removeAll()
            if exchange.requestEnded { exchange.buffered.append(.end(nil)) }
            return connectUpstreamFresh(exchange)
        }
        answer(exchange, .error(.badGateway, "upstream \(exchange.endpoint.map { "\($0)" } ?? "") closed the connection before responding"), close: !exchange.requestEnded)
    }

    private func connectUpstreamFresh(_ exchange: HTTPExchange) {
        guard let endpoint = exchange.endpoint else { return }
        exchange.phase = .connecting
        exchange.attempts += 1
        readsPaused = true
        let settings = exchange.table.settings
        loop.pool.connect(endpoint, timeout: settings.connectTimeout).assumeIsolated().whenComplete { [self] result in
            guard self.exchange === exchange, !closing else {
                if case .success(let c) = result { c.close() }
                return
            }
            switch result {
            case .success(let connection): attach(connection, to: exchange)
            case .failure(let error): connectFailed(exchange, endpoint: endpoint, error: error)
            }
        }
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        readsPaused = !isWritable
        if isWritable { resumeReads() }
    }

    // MARK: - Helpers

    private func resumeReads() {
        readsPaused = false
        if pendingRead {
            pendingRead = false
            context.read()
        }
    }

    private func detachUpstream(_ exchange: HTTPExchange, reusable: Bool) {
        exchange.readTimer?.cancel()
        guard let upstream = exchange.upstream else { return }
        exchange.upstream = nil
        upstream.delegate = nil
        if reusable {
            upstream.requestsServed += 1
            let settings = exchange.table.settings
            loop.pool.release(upstream, maxIdle: settings.maxIdleUpstreamConnections, idleTimeout: settings.upstreamIdleTimeout)
        } else {
            upstream.close()
        }
    }

    private func armReadTimer(_ exchange: HTTPExchange) {
        exchange.readTimer?.cancel()
        exchange.lastUpstreamActivity = .now()
        let timeout = TimeAmount(exchange.table.settings.readTimeout)
        exchange.readTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self, weak exchange] in
            guard let self, let exchange else { return }
            self.readTimerFired(exchange, timeout: timeout)
        }
    }

    /// Bounds the time between two reads of a request body (`ClientBodyTimeout`): a client that stops
    /// mid-body gets 408 (or is cut off) instead of holding its connection and an upstream one forever.
    private func armClientBodyTimer(_ exchange: HTTPExchange) {
        guard !exchange.requestEnded else { return }
        exchange.clientBodyTimer?.cancel()
        exchange.lastClientActivity = .now()
        let timeout = TimeAmount(exchange.table.settings.clientBodyTimeout)
        exchange.clientBodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self, weak exchange] in
            guard let self, let exchange else { return }
            self.clientBodyTimerFired(exchange, timeout: timeout)
        }
    }

    private func clientBodyTimerFired(_ exchange: HTTPExchange, timeout: TimeAmount) {
        guard self.exchange === exchange, !exchange.requestEnded else { return }
        let idle = NIODeadline.now() - exchange.lastClientActivity
        if idle < timeout {
            exchange.clientBodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout - idle) { [weak self, weak exchange] in
                guard let self, let exchange else { return }
                self.clientBodyTimerFired(exchange, timeout: timeout)
            }
            return
        }
        detachUpstream(exchange, reusable: false)
        if exchange.responseStarted {
            log(exchange, note: "client body timeout")
            context.close(promise: nil)
        } else {
            answer(exchange, .error(.requestTimeout, "the request body stalled past the client body timeout"), close: true)
        }
    }

    private func readTimerFired(_ exchange: HTTPExchange, timeout: TimeAmount) {
        guard self.exchange === exchange, !exchange.responseEnded else { return }
        let idle = NIODeadline.now() - exchange.lastUpstreamActivity
        if idle < timeout {
            exchange.readTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout - idle) { [weak self, weak exchange] in
                guard let self, let exchange else { return }
                self.readTimerFired(exchange, timeout: timeout)
            }
            return
        }
        detachUpstream(exchange, reusable: false)
        if exchange.responseStarted {
            log(exchange, note: "upstream read timeout mid-response")
            context.close(promise: nil)
        } else {
            answer(exchange, .error(.gatewayTimeout, "upstream \(exchange.endpoint.map { "\($0)" } ?? "") did not answer within the read timeout"), close: !exchange.requestEnded)
        }
    }

    /// Answers the current exchange with a local response; closes the connection afterwards when `close`
    /// (or the client asked for it), otherwise waits for the request to end before taking the next one.
    private func answer(_ exchange: HTTPExchange, _ response: LocalResponse, close: Bool) {
        exchange.phase = .answeredLocally
        exchange.status = response.status.code
        exchange.responseStarted = true
        exchange.responseEnded = true
        exchange.responseBytes = response.body.utf8.count
        exchange.buffered.removeAll()
        exchange.clientBodyTimer?.cancel()
        if close || (exchange.expectsContinue && !exchange.requestEnded) { exchange.keepAlive = false }
        if !exchange.keepAlive { closing = true }
        resumeReads()
        let keepAlive = exchange.keepAlive && !closing
        // Finish first: writing `.end` lets the pipelining assistant hand us the next request at once.
        if exchange.requestEnded || !exchange.keepAlive {
            finish(exchange)
        } else {
            // The rest of the body is read and dropped, under the client body timeout.
            armClientBodyTimer(exchange)
        }
        writeLocal(response, version: exchange.head.version, keepAlive: keepAlive, requestID: exchange.requestID,
                   settings: exchange.table.settings)
    }

    private func writeLocal(_ response: LocalResponse, version: HTTPVersion, keepAlive: Bool, requestID: String?,
                            settings: ProxySettings) {
        let hide = settings.hideInfoHeaders
        let head = response.head(version: version, keepAlive: keepAlive, requestID: hide ? nil : requestID,
                                 proxyID: hide ? nil : settings.proxyID, serverInfo: hide ? nil : PierVersion.serverInfo)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        var body = context.channel.allocator.buffer(capacity: response.body.utf8.count)
        body.writeString(response.body)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            closing = true
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { [context] _ in
                context?.close(promise: nil)
            }
        }
    }

    private func finish(_ exchange: HTTPExchange) {
        guard self.exchange === exchange else { return }
        log(exchange, note: nil)
        self.exchange = nil
        if exchange.keepAlive, !closing { armKeepAliveTimer() }
    }

    private func armKeepAliveTimer() {
        keepAliveTimer?.cancel()
        let timeout = TimeAmount(tables.current.settings.keepaliveTimeout)
        keepAliveTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, self.exchange == nil else { return }
            self.context.close(promise: nil)
        }
    }

    private func log(_ exchange: HTTPExchange, note: String?) {
        guard exchange.table.settings.accessLog else { return }
        let millis = Double(NIODeadline.now().uptimeNanoseconds - exchange.startNanos) / 1e6
        var metadata: Logger.Metadata = [
            "method": "\(exchange.head.method.rawValue)",
            "host": "\(exchange.head.headers.first(name: "host") ?? "-")",
            "path": "\(exchange.head.uri)",
            "status": "\(exchange.status)",
            "bytes": "\(exchange.responseBytes)",
            "upstream": "\(exchange.endpoint.map { "\($0)" } ?? "-")",
            "duration_ms": "\(String(format3: millis))",
            "request_id": "\(exchange.requestID)",
        ]
        if let clientIP { metadata["client"] = "\(clientIP)" }
        if let note { metadata["note"] = "\(note)" }
        accessLogger.info("request", metadata: metadata)
    }
}

extension String {
    /// A non-negative number with three decimals, without Foundation.
    init(format3 value: Double) {
        let thousandths = Int((value * 1000).rounded())
        let fraction = thousandths % 1000
        self = "\(thousandths / 1000)." + (fraction < 10 ? "00" : fraction < 100 ? "0" : "") + "\(fraction)"
    }
}

/// An absolute-form request target (`http://host:port/path?query`), as proxies must accept.
struct AbsoluteForm {
    var authority: String
    var pathAndQuery: String

    init?(_ target: String) {
        let lower = target.prefix(8).lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") { rest = target.dropFirst(7) } else if lower.hasPrefix("https://") { rest = target.dropFirst(8) } else { return nil }
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        authority = String(rest[..<end])
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let tail = rest[end...]
        pathAndQuery = tail.hasPrefix("/") ? String(tail) : "/" + tail
    }
}
