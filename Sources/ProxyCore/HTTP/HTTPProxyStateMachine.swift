import NIOCore
import NIOHTTP1
import RouteModel

/// The life of a downstream HTTP/1.1 connection as a pure state machine: one exchange at a time (NIO's
/// pipelining assistant queues the next), fed with what happened on either side, answering with what to do.
///
/// No channel, no clock, no IO: events carry `now`; `HTTPProxyHandler` carries out the actions. Owned by
/// the connection's event loop.
struct HTTPProxyStateMachine {
    /// A response Pier writes itself.
    struct Answer {
        var response: LocalResponse
        var version: HTTPVersion
        /// Keep the connection open afterwards; otherwise close once written.
        var keepAlive: Bool
        var requestID: RequestID?
        var settings: ProxySettings
        /// Close the upstream connection attached to the exchange (its state is unknown).
        var dropUpstream: Bool
        /// The exchange, when the answer ends it (to log).
        var finished: HTTPExchange?
        /// The request was HEAD: the answer's head says what a GET would get, and no body follows
        /// (RFC 9110 §9.3.2; body bytes would corrupt the next response on HTTP/1.1, and fail the stream on HTTP/2).
        var headRequest = false
        /// The client may still be sending the request's body when the connection is to close: close gently.
        var requestPending = false
    }

    /// What the handler must do.
    enum Action {
        case none
        /// Write a local response.
        case answer(Answer)
        /// Get a connection to the endpoint (pooled or new); write `100 Continue` first when asked.
        case acquireUpstream(Endpoint, sendContinue: Bool)
        /// Send the request again to `endpoint` (another one, or the same on a fresh connection when `fresh`):
        /// the previous attempt failed before any of its response reached the client. `dropUpstream`: close
        /// the connection of the failed attempt first.
        case retry(Endpoint, fresh: Bool, dropUpstream: Bool)
        /// Write the request head and what was buffered to the upstream just attached.
        case sendRequest(OutgoingRequestHead, buffered: [UpstreamRequestPart], armReadTimer: Bool)
        /// Pass a request body part upstream.
        case forwardBody(ByteBuffer)
        /// Pass the request end upstream and start the read timer.
        case forwardEnd(HTTPHeaders?)
        /// Pass the response head downstream.
        case writeResponseHead(OutgoingResponseHead)
        /// Pass a response body part downstream.
        case writeResponseBody(ByteBuffer)
        /// Pass the response end downstream; pool or close the upstream; close downstream when asked.
        case writeResponseEnd(HTTPHeaders?, releaseUpstream: Bool, close: Bool, finished: HTTPExchange)
        /// Close the downstream connection (and the upstream one): a response was already under way.
        case abort(finished: HTTPExchange?)
        /// Check the read timer again later.
        case rescheduleReadTimer(TimeAmount)
        /// Check the client body timer again later.
        case rescheduleBodyTimer(TimeAmount)
        /// The exchange ended (a local answer whose request body has now been read): log it.
        case finished(HTTPExchange)
        /// The upstream switched protocols (WebSocket): send the client `head`, then relay raw bytes between
        /// the two connections until either closes. The connection carries no more HTTP.
        case startTunnel(OutgoingResponseHead, finished: HTTPExchange)
    }

    /// The exchange in progress, if any.
    private(set) var exchange: HTTPExchange?
    /// Set once the connection is to close: no further keep-alive.
    private(set) var closing = false
    /// Response heads for the client are written as HTTP/1.1 bytes (Pier's codec downstream), not as NIO's type.
    let encodesResponses: Bool
    /// Response heads for the client are HTTP/2 header blocks (the handler serves an HTTP/2 stream). Decided
    /// by the pipeline, never by the version a request line claims: NIO's HTTP/1 decoder reads `HTTP/2.0`.
    let writesHeaderBlocks: Bool

    init(encodesResponses: Bool = false, writesHeaderBlocks: Bool = false) {
        self.encodesResponses = encodesResponses
        self.writesHeaderBlocks = writesHeaderBlocks
    }

    /// Whether the connection is between exchanges and may idle under the keep-alive timer.
    var isIdle: Bool { exchange == nil && !closing }

    /// Chooses another endpoint of the exchange's pool, avoiding those given, within the retry budget, or says
    /// why there is none. Called while the machine is being mutated: it must not touch the machine (the
    /// exchange is handed to it).
    typealias PickAnother = (_ exchange: HTTPExchange, _ excluding: [Endpoint]) -> RetryPick

    /// Largest request body kept for a retry after it was sent whole.
    static let maxReplayBody = 64 * 1024

    // MARK: - Downstream events

    /// A request head arrived; `upgrade` is what it asks of the connection (computed once, by the caller).
    /// `recycled`: an exchange object nothing else holds, to serve this exchange (`ExchangePool`); `strings`:
    /// the loop's interned Strings (target and Host for the access log).
    mutating func requestHead(_ head: RequestHead, upgrade: UpgradeRequest, plan: RequestPlan, table: RouteTable, requestID: RequestID,
                              now: NIODeadline, recycled: HTTPExchange? = nil, strings: StringInterner? = nil) -> Action {
        let state = HTTPExchange.State(head: head, upgrade: upgrade, table: table, requestID: requestID, now: now, strings: strings)
        recycled?.state = state
        let exchange = recycled ?? HTTPExchange(state)
        self.exchange = exchange
        switch plan {
        case .answer(let response, let close, let route):
            exchange.route = route
            return answer(exchange, response, close: close)
        case .forward(let forward):
            exchange.route = forward.route
            exchange.upstreamHead = forward.upstreamHead
            exchange.endpoint = forward.endpoint
            exchange.pool = forward.pool
            if !forward.pool.limits.isEmpty { exchange.settings = table.settings(forPool: forward.pool.id) }
            exchange.affinityKey = forward.affinityKey
            exchange.webSocket = forward.webSocket
            exchange.attempts = 1
            return .acquireUpstream(forward.endpoint, sendContinue: exchange.expectsContinue && head.version != .http1_0)
        }
    }

    mutating func requestBody(_ buffer: ByteBuffer, now: NIODeadline) -> Action {
        guard let exchange else { return .none }
        exchange.lastClientActivity = now
        exchange.bodyBytes += Int64(buffer.readableBytes)
        if let max = exchange.settings.clientMaxBodySize, max > 0, exchange.bodyBytes > max, exchange.phase != .answeredLocally {
            if exchange.responseStarted { return abort(exchange, .bodyTooLarge) }
            return answer(exchange, .failure(.init(.bodyTooLarge), "request body is over the \(max)-byte limit"), close: true)
        }
        switch exchange.phase {
        case .answeredLocally:
            return .none
        case .connecting:
            exchange.buffered.append(.body(.byteBuffer(buffer)))
            return .none
        case .forwarding:
            exchange.bodyForwarded = true
            return .forwardBody(buffer)
        }
    }

    mutating func requestEnd(_ trailers: HTTPHeaders?, now: NIODeadline) -> Action {
        guard let exchange else { return .none }
        exchange.requestEnded = true
        switch exchange.phase {
        case .answeredLocally:
            guard exchange.responseEnded else { return .none }
            self.exchange = nil
            return .finished(exchange)
        case .connecting:
            exchange.trailers = trailers
            exchange.buffered.append(.end(trailers))
            return .none
        case .forwarding:
            exchange.lastUpstreamActivity = now
            exchange.trailers = trailers
            return .forwardEnd(trailers)
        }
    }

    /// The request decoder failed (`DecodeError.isParseError`): answer 400 (431 for oversized headers) unless
    /// a response is under way.
    mutating func parserError(_ error: any Error, settings current: ProxySettings) -> Action {
        if let exchange, exchange.responseStarted { return abort(exchange, .malformedRequest) }
        let cause = FailureCause(DecodeError.isHeadTooLarge(error) ? .headerTooLarge : .malformedRequest)
        let response = LocalResponse.failure(cause, "malformed request (\(error))")
        closing = true
        let exchange = self.exchange
        self.exchange = nil
        exchange?.status = response.status.code
        exchange?.cause = cause
        exchange?.responseStarted = true
        exchange?.responseEnded = true
        return .answer(Answer(response: response, version: .http1_1, keepAlive: false, requestID: exchange?.requestID,
                              settings: exchange?.settings ?? current, dropUpstream: exchange?.phase == .forwarding,
                              finished: exchange))
    }

    /// Graceful shutdown: the current response is the connection's last.
    mutating func quiesce() {
        closing = true
    }

    /// The client went away.
    mutating func downstreamClosed() -> HTTPExchange? {
        closing = true
        defer { exchange = nil }
        // A local answer already written keeps its own cause: it is what failed; the client leaving after it is not.
        if let exchange, exchange.cause == nil { exchange.cause = FailureCause(.clientClosed) }
        return exchange
    }

    /// Pier itself held the client's reads (upstream slow or connecting): that time is not the client's.
    mutating func clientReadsResumed(now: NIODeadline) {
        exchange?.lastClientActivity = now
    }

    /// The client started a request head and did not finish it within the header timeout (slowloris): 408,
    /// then the connection closes. Only called between exchanges.
    mutating func clientHeaderTimedOut(settings: ProxySettings) -> Action {
        guard exchange == nil, !closing else { return .none }
        closing = true
        let seconds = Double(settings.clientHeaderTimeout.components.seconds)
        let response = LocalResponse.failure(.init(.clientHeadTimeout), "the request head did not arrive within \(seconds) s")
        return .answer(Answer(response: response, version: .http1_1, keepAlive: false, requestID: nil,
                              settings: settings, dropUpstream: false, finished: nil))
    }

    mutating func clientBodyTimerFired(now: NIODeadline, timeout: TimeAmount) -> Action {
        guard let exchange, !exchange.requestEnded else { return .none }
        let idle = now - exchange.lastClientActivity
        if idle < timeout { return .rescheduleBodyTimer(timeout - idle) }
        if exchange.responseStarted, exchange.phase != .answeredLocally { return abort(exchange, .bodyTimeout) }
        if exchange.phase == .answeredLocally {
            // Already answered; the body it was dropping stalled: just close (the answer's cause stays).
            return abort(exchange, exchange.cause?.kind ?? .bodyTimeout)
        }
        return answer(exchange, .failure(.init(.bodyTimeout), "the request body stalled past the client body timeout"), close: true)
    }

    // MARK: - Upstream events

    mutating func upstreamAttached(reused: Bool, now: NIODeadline) -> Action {
        guard let exchange, exchange.phase == .connecting, let head = exchange.upstreamHead else { return .none }
        exchange.phase = .forwarding
        exchange.reusedUpstream = reused
        exchange.upstreamSentNanos = now.uptimeNanoseconds
        exchange.upstreamHeadNanos = 0
        exchange.lastUpstreamActivity = now
        // The head travels apart from the buffered parts: no list is built per request for it.
        let parts = exchange.buffered
        exchange.buffered = []
        if parts.contains(where: { if case .body = $0 { return true } else { return false } }) { exchange.bodyForwarded = true }
        if exchange.bodyForwarded, exchange.requestEnded, exchange.replayBody == nil, exchange.bodyBytes <= Self.maxReplayBody {
            // The whole request goes now: a small body is kept so that a failed attempt can be retried.
            exchange.replayBody = parts
        }
        return .sendRequest(head, buffered: parts, armReadTimer: exchange.requestEnded)
    }

    mutating func upstreamConnectFailed(timedOut: Bool, pickAnother: PickAnother) -> Action {
        guard let exchange, exchange.phase == .connecting else { return .none }
        // Nothing reached the upstream: whatever the method, the request may go to another endpoint.
        let refusal: FailureCause.Retry
        switch retryElsewhere(exchange, resend: false, dropUpstream: false, pickAnother) {
        case .retry(let action): return action
        case .refused(let why): refusal = why
        }
        let endpoint = exchange.endpoint.map { "\($0)" } ?? ""
        if timedOut {
            return answer(exchange, .failure(.init(.connectTimeout, retry: refusal), "upstream \(endpoint) did not accept the connection in time"),
                          close: !exchange.requestEnded)
        }
        return answer(exchange, .failure(.init(.connectRefused, retry: refusal), "upstream \(endpoint) refused the connection"),
                      close: !exchange.requestEnded)
    }

    /// The upstream's response head arrived; `invalid` says why it must not be relayed (`ResponseValidation`).
    /// `headBuffer`: storage to write an encoded head into (`HeadBufferPool`), when there is one to reuse.
    mutating func responseHead(_ head: ResponseHead, invalid: String? = nil, upstream: String, now: NIODeadline,
                               headBuffer: consuming ByteBuffer? = nil, strings: StringInterner? = nil,
                               pickAnother: PickAnother) -> Action {
        guard let exchange, exchange.phase == .forwarding else { return .none }
        exchange.lastUpstreamActivity = now
        exchange.upstreamHeadNanos = now.uptimeNanoseconds
        // Interlock's proxy_next_upstream set: an idempotent request that got 502, 503 or 504 (or an invalid
        // response) goes to another endpoint if it can be sent again whole; the response is dropped unread.
        var refusal = FailureCause.Retry.notApplicable
        if invalid != nil || (502...504).contains(head.status.code) {
            switch retryElsewhere(exchange, resend: true, wholeRequest: true, dropUpstream: true, pickAnother) {
            case .retry(let action): return action
            case .refused(let why): refusal = why
            }
        }
        if let invalid {
            let endpoint = exchange.endpoint.map { "\($0)" } ?? ""
            return answer(exchange, .failure(.init(.invalidResponse, retry: refusal), "upstream \(endpoint) sent an invalid response: \(invalid)"),
                          close: !exchange.requestEnded)
        }
        if head.status == .switchingProtocols {
            // NIO's decoder stops reading the upstream after a 101: the connection is the tunnel's or no one's.
            let endpoint = exchange.endpoint.map { "\($0)" } ?? ""
            guard exchange.webSocket else {
                return answer(exchange, .failure(.init(.unexpectedSwitch), "upstream \(endpoint) switched protocols for a request that did not ask to"), close: true)
            }
            exchange.responseStarted = true
            exchange.status = head.status.code
            let settings = exchange.settings
            let info = settings.hideInfoHeaders ? nil : ForwardedHeaders.InfoHeaders(
                requestID: exchange.requestID, proxyID: settings.proxyID, serverInfo: PierVersion.serverInfo,
                upstreamAddress: upstream, upstreamResponseTime: nil)
            do {
                exchange.switchingHead = try ForwardedHeaders.downstreamHead(from: head, clientVersion: exchange.version, keepAlive: true,
                                                                             info: info, encode: encodesResponses,
                                                                             http2Block: writesHeaderBlocks)
            } catch {
                return answer(exchange, .failure(.init(.invalidResponse), "upstream \(endpoint) sent a response Pier cannot relay unchanged: \(error)"),
                              close: true)
            }
            // Sent when the head has ended (the decoder's `.end`), after which no HTTP part follows.
            return .none
        }
        exchange.responseStarted = true
        exchange.status = head.status.code
        exchange.upstreamKeepAlive = head.keepsAlive
        if !exchange.requestEnded {
            // The upstream answers before the whole body is in (an early error, a redirect): the rest of the
            // body will not reach it, so the connection ends after this response; the head says so.
            exchange.keepAlive = false
        }
        if exchange.version == .http1_0, !head.contains("content-length"),
            exchange.method != .HEAD, head.status.mayHaveResponseBody
        {
            // An HTTP/1.0 client can only see the end of an unsized body as the connection closing.
            exchange.keepAlive = false
        }
        let settings = exchange.settings
        let elapsed = Double(now.uptimeNanoseconds &- exchange.upstreamSentNanos) / 1e9
        let info = settings.hideInfoHeaders ? nil : ForwardedHeaders.InfoHeaders(
            requestID: exchange.requestID, proxyID: settings.proxyID, serverInfo: PierVersion.serverInfo,
            upstreamAddress: upstream, upstreamResponseTime: String(format3: elapsed))
        do {
            return .writeResponseHead(try ForwardedHeaders.downstreamHead(
                from: head, clientVersion: exchange.version, keepAlive: exchange.keepAlive && !closing, info: info,
                encode: encodesResponses, http2Block: writesHeaderBlocks, strings: strings, recycling: consume headBuffer))
        } catch {
            // A value an HTTP/2 client's head cannot carry unchanged (not UTF-8): 502 rather than altered.
            exchange.responseStarted = false
            let endpoint = exchange.endpoint.map { "\($0)" } ?? ""
            return answer(exchange, .failure(.init(.invalidResponse), "upstream \(endpoint) sent a response Pier cannot relay unchanged: \(error)"),
                          close: !exchange.requestEnded)
        }
    }

    mutating func responseBody(_ buffer: ByteBuffer, now: NIODeadline) -> Action {
        guard let exchange, exchange.phase == .forwarding else { return .none }
        exchange.lastUpstreamActivity = now
        exchange.responseBytes += buffer.readableBytes
        return .writeResponseBody(buffer)
    }

    mutating func responseEnd(_ trailers: HTTPHeaders?) -> Action {
        guard let exchange, exchange.phase == .forwarding else { return .none }
        exchange.responseEnded = true
        if let head = exchange.switchingHead {
            closing = true
            self.exchange = nil
            return .startTunnel(head, finished: exchange)
        }
        let reusable = exchange.upstreamKeepAlive && exchange.requestEnded
        if !exchange.requestEnded {
            // The upstream answered before the body was all sent (an early error): the connection closes,
            // gently (the handler reads and drops the rest for a while, so that the client gets the response).
            exchange.keepAlive = false
        }
        if !exchange.keepAlive { closing = true }
        self.exchange = nil
        return .writeResponseEnd(trailers, releaseUpstream: reusable, close: closing, finished: exchange)
    }

    /// The upstream connection closed or failed before the response ended; `unparsable`: the response decoder
    /// could not read what it sent (e.g. `HTTP/1.1 0`, conflicting lengths).
    mutating func upstreamClosed(unparsable: (any Error)? = nil, pickAnother: PickAnother) -> Action {
        guard let exchange, exchange.phase == .forwarding else { return .none }
        if exchange.responseStarted { return abort(exchange, .closedMidResponse) }
        if exchange.reusedUpstream, unparsable == nil, !exchange.staleRetried, let endpoint = exchange.endpoint,
            exchange.method.isIdempotent, !exchange.webSocket, let parts = exchange.replayParts
        {
            // A pooled connection the upstream closed as we reused it: a race with the endpoint's idle
            // timeout, not a failure. The same endpoint, on a fresh connection, once per request; it uses
            // neither the request's one retry nor the retry budget.
            exchange.staleRetried = true
            exchange.phase = .connecting
            exchange.buffered = parts
            return .retry(endpoint, fresh: true, dropUpstream: false)
        }
        // Closed before answering: an idempotent request that can be sent again goes to another endpoint.
        let refusal: FailureCause.Retry
        switch retryElsewhere(exchange, resend: true, dropUpstream: false, pickAnother) {
        case .retry(let action): return action
        case .refused(let why): refusal = why
        }
        let endpoint = exchange.endpoint.map { "\($0)" } ?? ""
        if let unparsable {
            return answer(exchange, .failure(.init(.invalidResponse, retry: refusal), "upstream \(endpoint) sent an invalid response (\(unparsable))"),
                          close: !exchange.requestEnded, upstreamGone: true)
        }
        return answer(exchange, .failure(.init(.closedBeforeResponse, retry: refusal), "upstream \(endpoint) closed the connection before responding"),
                      close: !exchange.requestEnded, upstreamGone: true)
    }

    /// A failed attempt's retry, or why there is none.
    private enum Retried {
        case retry(Action)
        case refused(FailureCause.Retry)
    }

    /// Moves a failed attempt to another endpoint of the pool, once per request and within the retry budget
    /// (`pickAnother` applies it), or says why it does not. `resend`: the attempt reached the upstream, so
    /// the request goes again only if it is idempotent and can be sent again whole (`wholeRequest`: and was
    /// received whole); otherwise nothing was sent and the buffered parts are kept.
    private mutating func retryElsewhere(_ exchange: HTTPExchange, resend: Bool, wholeRequest: Bool = false, dropUpstream: Bool,
                                         _ pickAnother: PickAnother) -> Retried {
        if exchange.attempts >= 2 { return .refused(.done) }
        var parts: [UpstreamRequestPart]?
        if resend {
            guard exchange.method.isIdempotent else { return .refused(.notIdempotent) }
            guard !exchange.webSocket, exchange.requestEnded || !wholeRequest, let replay = exchange.replayParts else {
                return .refused(.bodyNotReplayable)
            }
            parts = replay
        }
        guard let current = exchange.endpoint else { return .refused(.noOtherEndpoint) }
        let next: Endpoint
        switch pickAnother(exchange, exchange.failed + [current]) {
        case .endpoint(let endpoint): next = endpoint
        case .refused(let why): return .refused(why)
        }
        exchange.attempts += 1
        exchange.failed.append(current)
        exchange.endpoint = next
        exchange.phase = .connecting
        exchange.reusedUpstream = false
        if let parts { exchange.buffered = parts }
        return .retry(.retry(next, fresh: false, dropUpstream: dropUpstream))
    }

    /// The upstream took no request body bytes for the send timeout.
    mutating func upstreamSendTimedOut() -> Action {
        guard let exchange, exchange.phase == .forwarding || exchange.phase == .connecting else { return .none }
        if exchange.responseStarted { return abort(exchange, .sendTimeout) }
        let endpoint = exchange.endpoint.map { "\($0)" } ?? ""
        return answer(exchange, .failure(.init(.sendTimeout), "upstream \(endpoint) did not take the request body within the send timeout"), close: true)
    }

    /// The upstream started its response head and did not finish it within `timeout` (it trickles): 504.
    mutating func responseHeadTimedOut(timeout: Duration) -> Action {
        guard let exchange, exchange.phase == .forwarding, !exchange.responseStarted else { return .none }
        let endpoint = exchange.endpoint.map { "\($0)" } ?? ""
        return answer(exchange, .failure(.init(.upstreamHeadTimeout), "upstream \(endpoint) did not send its whole response head within \(timeout.nginxText)"),
                      close: !exchange.requestEnded)
    }

    mutating func readTimerFired(now: NIODeadline, timeout: TimeAmount) -> Action {
        guard let exchange, exchange.phase == .forwarding, !exchange.responseEnded else { return .none }
        let idle = now - exchange.lastUpstreamActivity
        if idle < timeout { return .rescheduleReadTimer(timeout - idle) }
        if exchange.responseStarted { return abort(exchange, .readTimeout) }
        let endpoint = exchange.endpoint.map { "\($0)" } ?? ""
        return answer(exchange, .failure(.init(.readTimeout), "upstream \(endpoint) did not answer within the read timeout"), close: !exchange.requestEnded)
    }

    // MARK: - Helpers

    private mutating func answer(_ exchange: HTTPExchange, _ response: LocalResponse, close: Bool, upstreamGone: Bool = false) -> Action {
        let dropUpstream = exchange.phase == .forwarding && !upstreamGone
        exchange.phase = .answeredLocally
        exchange.status = response.status.code
        exchange.cause = response.cause
        exchange.responseStarted = true
        exchange.responseEnded = true
        let headRequest = exchange.method == .HEAD
        exchange.responseBytes = headRequest ? 0 : response.body.utf8.count
        exchange.buffered.removeAll()
        // A client that sent `Expect: 100-continue` may be waiting to send its body: close rather than wait.
        if close || (exchange.expectsContinue && !exchange.requestEnded) { exchange.keepAlive = false }
        if !exchange.keepAlive { closing = true }
        let finished = exchange.requestEnded || closing ? exchange : nil
        if finished != nil { self.exchange = nil }
        return .answer(Answer(response: response, version: exchange.version, keepAlive: !closing,
                              requestID: exchange.requestID, settings: exchange.settings,
                              dropUpstream: dropUpstream, finished: finished, headRequest: headRequest,
                              requestPending: !exchange.requestEnded))
    }

    /// Ends a connection whose response was already under way (or whose answer is written): no status to send.
    private mutating func abort(_ exchange: HTTPExchange, _ kind: FailureCause.Kind) -> Action {
        exchange.cause = FailureCause(kind)
        closing = true
        self.exchange = nil
        return .abort(finished: exchange)
    }
}
