import NIOCore
import NIOHTTP1
import RouteModel
import Testing

@testable import ProxyCore

/// Feeds the state machine events and checks the exact actions, with no channel and a fake clock.
struct HTTPProxyStateMachineTests {
    let table = RouteTable(generation: 1, content: .init(routes: [], pools: [], defaultRoute: nil, settings: ProxySettings(accessLog: false)))
    let endpoint = Endpoint(host: "10.0.0.1", port: 80)
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func head(_ method: HTTPMethod = .GET, _ headers: HTTPHeaders = ["Host": "a"], version: HTTPVersion = .http1_1) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: "/", headers: headers)
    }

    let pool = BackendPool(id: 0, services: ["s"], endpoints: [Endpoint(host: "10.0.0.1", port: 80), Endpoint(host: "10.0.0.2", port: 80)])
    let noOther: HTTPProxyStateMachine.PickAnother = { _, _ in .refused(.noOtherEndpoint) }

    func forward(_ h: HTTPRequestHead, webSocket: Bool = false) -> RequestPlan {
        .forward(.init(upstreamHead: .nio(HTTPRequestHead(version: .http1_1, method: h.method, uri: "/", headers: h.headers)), endpoint: endpoint,
                       pool: pool, route: Route(host: .exact("a"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 0), services: ["s"]),
                       affinityKey: nil, webSocket: webSocket))
    }

    /// A chooser that offers the pool's endpoints not yet tried.
    func another() -> HTTPProxyStateMachine.PickAnother {
        { [pool] _, excluded in pool.endpoints.first { !excluded.contains($0) }.map { .endpoint($0) } ?? .refused(.noOtherEndpoint) }
    }

    /// The cause an action reports, as the access log writes it (`side.kind`, then the retry outcome when there
    /// is one); nil when it reports none.
    func cause(_ action: HTTPProxyStateMachine.Action) -> String? {
        let cause: FailureCause?
        switch action {
        case .answer(let a):
            if let finished = a.finished { #expect(finished.cause == a.response.cause, "the exchange logs the cause it answered") }
            #expect(a.response.cause?.status.map(UInt.init) == a.response.status.code, "the status derives from the cause")
            cause = a.response.cause
        case .abort(let finished): cause = finished?.cause
        default: cause = nil
        }
        guard let cause else { return nil }
        return cause.description + (cause.retry == .notApplicable ? "" : " " + cause.retry.rawValue)
    }

    /// A short name for an action, enough to compare sequences.
    func name(_ action: HTTPProxyStateMachine.Action) -> String {
        switch action {
        case .none: return "none"
        case .answer(let a): return "answer \(a.response.status.code)\(a.keepAlive ? "" : " close")\(a.dropUpstream ? " drop" : "")\(a.finished == nil ? "" : " finished")"
        case .acquireUpstream(let e, let c): return "acquire \(e)\(c ? " continue" : "")"
        case .retry(let e, let fresh, let drop): return "retry \(e)\(fresh ? " fresh" : "")\(drop ? " drop" : "")"
        case .sendRequest(_, let parts, let arm): return "send \(parts.count + 1)\(arm ? " arm" : "")"
        case .forwardBody(let b): return "body \(b.readableBytes)"
        case .forwardEnd: return "end"
        case .writeResponseHead(let h): return "head \(h.status.code)"
        case .writeResponseBody(let b): return "response-body \(b.readableBytes)"
        case .writeResponseEnd(_, let release, let close, _): return "response-end\(release ? " release" : " drop")\(close ? " close" : "")"
        case .abort: return "abort"
        case .rescheduleReadTimer(let t): return "reschedule-read \(t.nanoseconds / 1_000_000)ms"
        case .rescheduleBodyTimer(let t): return "reschedule-body \(t.nanoseconds / 1_000_000)ms"
        case .finished: return "finished"
        case .startTunnel(let h, _): return "tunnel \(h.status.code) \(h.headers["upgrade"].joined())"
        }
    }

    static let handshake: HTTPHeaders = ["Host": "a", "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"]

    @Test func webSocketHandshakeAnswered101BecomesATunnelOnceTheHeadEnds() {
        var m = HTTPProxyStateMachine()
        let h = head(.GET, Self.handshake)
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h, webSocket: true), table: table, requestID: "r", now: t0)
        _ = m.requestEnd(nil, now: t0)
        _ = m.upstreamAttached(reused: false, now: t0)
        let switching = HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: ["Upgrade": "websocket", "Connection": "Upgrade"])
        #expect(name(m.responseHead(switching, upstream: endpoint.description, now: t0, pickAnother: noOther)) == "none", "the 101 waits for the end of its head")
        #expect(name(m.responseEnd(nil)) == "tunnel 101 websocket")
        #expect(m.closing, "the connection carries no more HTTP")
    }

    @Test func upgradeRequestsThatDoNotBecomeTunnelsCloseTheConnection() {
        // NIO's decoder reads nothing after an upgrade request: a refused or declined upgrade ends the connection.
        for (headers, webSocket) in [(Self.handshake, true), (["Host": "a", "Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings"] as HTTPHeaders, false)] {
            var m = HTTPProxyStateMachine()
            let h = head(.GET, headers)
            _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h, webSocket: webSocket), table: table, requestID: "r", now: t0)
            _ = m.requestEnd(nil, now: t0)
            _ = m.upstreamAttached(reused: false, now: t0)
            #expect(name(m.responseHead(HTTPResponseHead(version: .http1_1, status: .ok), upstream: endpoint.description, now: t0, pickAnother: noOther)) == "head 200")
            #expect(name(m.responseEnd(nil)) == "response-end release close")
        }
    }

    @Test func a101ForARequestThatDidNotAskIs502() {
        var m = HTTPProxyStateMachine()
        let h = head()
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.requestEnd(nil, now: t0)
        _ = m.upstreamAttached(reused: false, now: t0)
        let switching = HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: ["Upgrade": "websocket"])
        let action = m.responseHead(switching, upstream: endpoint.description, now: t0, pickAnother: noOther)
        #expect(name(action) == "answer 502 close drop finished")
        #expect(cause(action) == "upstream.unexpected_switch")
    }

    @Test func simpleExchangeReleasesTheUpstreamAndStaysOpen() {
        var m = HTTPProxyStateMachine()
        let h = head()
        #expect(name(m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)) == "acquire 10.0.0.1:80")
        #expect(name(m.requestEnd(nil, now: t0)) == "none", "buffered while connecting")
        #expect(name(m.upstreamAttached(reused: false, now: t0)) == "send 2 arm")
        #expect(name(m.responseHead(HTTPResponseHead(version: .http1_1, status: .ok), upstream: endpoint.description, now: t0, pickAnother: noOther)) == "head 200")
        #expect(name(m.responseBody(ByteBuffer(string: "hi"), now: t0)) == "response-body 2")
        #expect(name(m.responseEnd(nil)) == "response-end release")
        #expect(m.isIdle)
    }

    @Test func bodyIsBufferedWhileConnectingThenStreamed() {
        var m = HTTPProxyStateMachine()
        let h = head(.POST, ["Host": "a", "Content-Length": "6"])
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        #expect(name(m.requestBody(ByteBuffer(string: "abc"), now: t0)) == "none")
        #expect(name(m.upstreamAttached(reused: false, now: t0)) == "send 2")
        #expect(name(m.requestBody(ByteBuffer(string: "def"), now: t0)) == "body 3")
        #expect(name(m.requestEnd(nil, now: t0)) == "end")
    }

    @Test func reusedConnectionClosingBeforeAnswerRetriesIdempotentRequestsOnce() {
        var m = HTTPProxyStateMachine()
        let h = head()
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.requestEnd(nil, now: t0)
        _ = m.upstreamAttached(reused: true, now: t0)
        #expect(name(m.upstreamClosed(pickAnother: another())) == "retry 10.0.0.1:80 fresh",
                "a stale pooled connection: the same endpoint, on a fresh connection")
        #expect(name(m.upstreamAttached(reused: false, now: t0)) == "send 2 arm")
        #expect(name(m.upstreamClosed(pickAnother: another())) == "retry 10.0.0.2:80", "the stale retry did not use the one retry")
        #expect(name(m.upstreamAttached(reused: true, now: t0)) == "send 2 arm")
        let last = m.upstreamClosed(pickAnother: another())
        #expect(name(last) == "answer 502 finished", "one stale retry and one retry per request")
        #expect(cause(last) == "upstream.closed_before_response done")
    }

    @Test func idempotentRequestsGoToAnotherEndpointWhenTheUpstreamClosesBeforeAnswering() {
        var m = HTTPProxyStateMachine()
        let h = head(.PUT, ["Host": "a", "Content-Length": "3"])
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.requestBody(ByteBuffer(string: "abc"), now: t0)
        _ = m.requestEnd(nil, now: t0)
        #expect(name(m.upstreamAttached(reused: false, now: t0)) == "send 3 arm", "head, body, end: small and whole, kept for a retry")
        #expect(name(m.upstreamClosed(pickAnother: another())) == "retry 10.0.0.2:80")
        #expect(name(m.upstreamAttached(reused: false, now: t0)) == "send 3 arm", "the body goes again")
    }

    @Test func aBodyStreamedUpstreamIsNeverSentTwice() {
        var m = HTTPProxyStateMachine()
        let h = head(.PUT, ["Host": "a", "Content-Length": "6"])
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.upstreamAttached(reused: false, now: t0)
        #expect(name(m.requestBody(ByteBuffer(string: "abcdef"), now: t0)) == "body 6")
        _ = m.requestEnd(nil, now: t0)
        let action = m.upstreamClosed(pickAnother: another())
        #expect(name(action) == "answer 502 finished")
        #expect(cause(action) == "upstream.closed_before_response body_not_replayable")
    }

    @Test func aFailedConnectGoesToAnotherEndpointWhateverTheMethod() {
        var m = HTTPProxyStateMachine()
        let h = head(.POST, ["Host": "a", "Content-Length": "2"])
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.requestBody(ByteBuffer(string: "hi"), now: t0)
        #expect(name(m.upstreamConnectFailed(timedOut: false, pickAnother: another())) == "retry 10.0.0.2:80")
        _ = m.requestEnd(nil, now: t0)
        #expect(name(m.upstreamAttached(reused: false, now: t0)) == "send 3 arm", "what was buffered while connecting is kept")
        var n = HTTPProxyStateMachine()
        _ = n.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        let action = n.upstreamConnectFailed(timedOut: true, pickAnother: noOther)
        #expect(name(action) == "answer 504 close finished", "nowhere else to go")
        #expect(cause(action) == "upstream.connect_timeout no_other_endpoint")
    }

    @Test("502, 503 and 504 are retried elsewhere for idempotent requests only, dropping the failed response", arguments: [
        (HTTPMethod.GET, UInt(503), "retry 10.0.0.2:80 drop"), (.GET, 502, "retry 10.0.0.2:80 drop"), (.DELETE, 504, "retry 10.0.0.2:80 drop"),
        (.GET, 500, "head 500"), (.POST, 503, "head 503"), (.GET, 200, "head 200"),
    ] as [(HTTPMethod, UInt, String)])
    func statusRetries(method: HTTPMethod, status: UInt, expected: String) {
        var m = HTTPProxyStateMachine()
        let h = head(method)
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.requestEnd(nil, now: t0)
        _ = m.upstreamAttached(reused: false, now: t0)
        let response = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: Int(status)))
        #expect(name(m.responseHead(response, upstream: endpoint.description, now: t0, pickAnother: another())) == expected)
        if expected.hasPrefix("retry") {
            _ = m.upstreamAttached(reused: false, now: t0)
            #expect(name(m.responseHead(response, upstream: "10.0.0.2:80", now: t0, pickAnother: another())) == "head \(status)",
                    "the second answer goes to the client, whatever it is")
        }
    }

    @Test func postIsNotRetried() {
        var m = HTTPProxyStateMachine()
        let h = head(.POST, ["Host": "a", "Content-Length": "0"])
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.requestEnd(nil, now: t0)
        _ = m.upstreamAttached(reused: true, now: t0)
        let action = m.upstreamClosed(pickAnother: noOther)
        #expect(name(action) == "answer 502 finished")
        #expect(cause(action) == "upstream.closed_before_response not_idempotent")
    }

    @Test func upstreamClosingMidResponseAborts() {
        var m = HTTPProxyStateMachine()
        let h = head()
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.requestEnd(nil, now: t0)
        _ = m.upstreamAttached(reused: true, now: t0)
        _ = m.responseHead(HTTPResponseHead(version: .http1_1, status: .ok), upstream: endpoint.description, now: t0, pickAnother: noOther)
        let action = m.upstreamClosed(pickAnother: noOther)
        #expect(name(action) == "abort")
        #expect(cause(action) == "upstream.closed_mid_response")
        #expect(!m.isIdle)
    }

    @Test func readTimerReschedulesWhileDataFlowsAndGives504Otherwise() {
        var m = HTTPProxyStateMachine()
        let h = head()
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.requestEnd(nil, now: t0)
        _ = m.upstreamAttached(reused: false, now: t0)
        let timeout = TimeAmount.seconds(10)
        #expect(name(m.readTimerFired(now: t0 + .seconds(4), timeout: timeout)) == "reschedule-read 6000ms")
        let fired = m.readTimerFired(now: t0 + .seconds(10), timeout: timeout)
        #expect(name(fired) == "answer 504 drop finished")
        #expect(cause(fired) == "upstream.read_timeout")
        #expect(m.isIdle, "the request was complete: the connection stays")
    }

    @Test func earlyResponseBeforeBodyEndClosesTheConnection() {
        var m = HTTPProxyStateMachine()
        let h = head(.POST, ["Host": "a", "Content-Length": "100"])
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.upstreamAttached(reused: false, now: t0)
        _ = m.responseHead(HTTPResponseHead(version: .http1_1, status: .forbidden), upstream: endpoint.description, now: t0, pickAnother: noOther)
        #expect(name(m.responseEnd(nil)) == "response-end drop close")
    }

    @Test func localAnswerWaitsForTheBodyThenFinishes() {
        var m = HTTPProxyStateMachine()
        let h = head(.POST, ["Host": "a", "Content-Length": "3"])
        #expect(name(m.requestHead(h, upgrade: UpgradeRequest(h), plan: .answer(.failure(.init(.noRoute), "x"), close: false), table: table, requestID: "r", now: t0)) == "answer 503")
        #expect(name(m.requestBody(ByteBuffer(string: "abc"), now: t0)) == "none")
        #expect(name(m.requestEnd(nil, now: t0)) == "finished")
        #expect(m.isIdle)
    }

    @Test func localAnswerToExpectContinueCloses() {
        var m = HTTPProxyStateMachine()
        let h = head(.POST, ["Host": "a", "Content-Length": "3", "Expect": "100-continue"])
        #expect(name(m.requestHead(h, upgrade: UpgradeRequest(h), plan: .answer(.failure(.init(.noEndpoint), "x"), close: false), table: table, requestID: "r", now: t0)) == "answer 503 close finished")
    }

    @Test func expectContinueIsSentOnlyToHTTP11Clients() {
        var m = HTTPProxyStateMachine()
        let h = head(.POST, ["Host": "a", "Content-Length": "3", "Expect": "100-continue"])
        #expect(name(m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)) == "acquire 10.0.0.1:80 continue")
        var m10 = HTTPProxyStateMachine()
        let h10 = head(.POST, ["Content-Length": "3", "Expect": "100-continue"], version: .http1_0)
        #expect(name(m10.requestHead(h10, upgrade: UpgradeRequest(h10), plan: forward(h10), table: table, requestID: "r", now: t0)) == "acquire 10.0.0.1:80")
    }

    @Test func stalledBodyGets408() {
        var m = HTTPProxyStateMachine()
        let h = head(.POST, ["Host": "a", "Content-Length": "100"])
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.upstreamAttached(reused: false, now: t0)
        _ = m.requestBody(ByteBuffer(string: "abc"), now: t0 + .seconds(1))
        #expect(name(m.clientBodyTimerFired(now: t0 + .seconds(30), timeout: .seconds(60))) == "reschedule-body 31000ms")
        let fired = m.clientBodyTimerFired(now: t0 + .seconds(61), timeout: .seconds(60))
        #expect(name(fired) == "answer 408 close drop finished")
        #expect(cause(fired) == "downstream.body_timeout")
    }

    @Test func parserErrorAnswers431ForOversizedHeaders() {
        var m = HTTPProxyStateMachine()
        let overflow = m.parserError(HTTPParserError.headerOverflow, settings: ProxySettings())
        #expect(name(overflow) == "answer 431 close")
        #expect(cause(overflow) == "downstream.header_too_large")
        var n = HTTPProxyStateMachine()
        let invalid = n.parserError(HTTPParserError.invalidHeaderToken, settings: ProxySettings())
        #expect(name(invalid) == "answer 400 close")
        #expect(cause(invalid) == "downstream.malformed_request")
    }

    @Test func invalidResponseIsRetriedElsewhereOr502AndDropsTheUpstream() {
        var m = HTTPProxyStateMachine()
        let h = head()
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.requestEnd(nil, now: t0)
        _ = m.upstreamAttached(reused: false, now: t0)
        let weird = HTTPResponseHead(version: .http1_1, status: .init(statusCode: 999))
        #expect(name(m.responseHead(weird, invalid: "status 999", upstream: "u", now: t0, pickAnother: another())) == "retry 10.0.0.2:80 drop")
        _ = m.upstreamAttached(reused: false, now: t0)
        let action = m.responseHead(weird, invalid: "status 999", upstream: "u", now: t0, pickAnother: another())
        #expect(name(action) == "answer 502 drop finished")
        #expect(cause(action) == "upstream.invalid_response done")
    }

    @Test func responseHeadTimeoutIs504UntilTheHeadArrives() {
        var m = HTTPProxyStateMachine()
        let h = head()
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.requestEnd(nil, now: t0)
        _ = m.upstreamAttached(reused: false, now: t0)
        var copy = m
        let timedOut = copy.responseHeadTimedOut(timeout: .seconds(1))
        #expect(name(timedOut) == "answer 504 drop finished")
        #expect(cause(timedOut) == "upstream.head_timeout")
        _ = m.responseHead(HTTPResponseHead(version: .http1_1, status: .ok), upstream: "u", now: t0, pickAnother: noOther)
        #expect(name(m.responseHeadTimedOut(timeout: .seconds(1))) == "none")
    }

    @Test func earlyResponseDuringAnUploadSaysCloseAndClosesGently() {
        var m = HTTPProxyStateMachine()
        let h = head(.POST, ["Host": "a", "Content-Length": "100"])
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.upstreamAttached(reused: false, now: t0)
        guard case .writeResponseHead(let response) = m.responseHead(HTTPResponseHead(version: .http1_1, status: .forbidden),
                                                                     upstream: "u", now: t0, pickAnother: noOther) else {
            Issue.record("expected the head")
            return
        }
        #expect(response.headers["connection"] == ["close"])
        guard case .writeResponseEnd(_, let release, let close, let finished) = m.responseEnd(nil) else {
            Issue.record("expected the end")
            return
        }
        #expect(!release && close && !finished.requestEnded)
    }

    @Test("a response value an HTTP/2 client's head cannot carry unchanged is a 502, the upstream dropped; HTTP/1.1 gets its bytes")
    func unrepresentableResponseIs502() {
        var latin1 = ByteBuffer(string: "HTTP/1.1 200 OK\r\nX-Name: caf")
        latin1.writeBytes([0xE9])
        latin1.writeString("\r\nContent-Length: 0\r\n\r\n")
        let text = String(decoding: latin1.readableBytesView, as: Unicode.ASCII.self)
        for encodes in [false, true] {
            var m = HTTPProxyStateMachine(encodesResponses: encodes)
            let h = head()
            _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
            _ = m.upstreamAttached(reused: false, now: t0)
            _ = m.requestEnd(nil, now: t0)
            var parser = HTTP1HeadParserForTests.response
            var bytes = latin1
            let response = ResponseHead(parsed: try! parser.parse(&bytes)!)
            let action = m.responseHead(response, upstream: "u", now: t0, pickAnother: noOther)
            #expect(name(action) == (encodes ? "head 200" : "answer 502 drop finished"), "\(text)")
        }
    }

    @Test("a response head is a header block only on an HTTP/2 stream: a request line claiming HTTP/2.0 gets NIO's HTTP/1.1 head")
    func headerBlocksFollowThePipelineNotTheClaimedVersion() {
        for blocks in [false, true] {
            var m = HTTPProxyStateMachine(encodesResponses: false, writesHeaderBlocks: blocks)
            let h = head(version: .http2)
            _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
            _ = m.upstreamAttached(reused: false, now: t0)
            _ = m.requestEnd(nil, now: t0)
            let action = m.responseHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "0"]), upstream: "u",
                                        now: t0, pickAnother: noOther)
            switch action {
            case .writeResponseHead(.http2(let status, _)): #expect(blocks && status == 200)
            case .writeResponseHead(.nio(let nio)): #expect(!blocks && nio.version == .http1_1)
            default: Issue.record("unexpected \(name(action))")
            }
        }
    }

    @Test func aRetryRefusedByTheBudgetSaysSo() {
        var m = HTTPProxyStateMachine()
        let h = head()
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        _ = m.requestEnd(nil, now: t0)
        let action = m.upstreamConnectFailed(timedOut: false, pickAnother: { _, _ in .refused(.budgetExhausted) })
        #expect(name(action) == "answer 502 finished")
        #expect(cause(action) == "upstream.connect_refused budget_exhausted")
        guard case .answer(let answer) = action, let failure = answer.response.cause else {
            Issue.record("expected an answer with a cause")
            return
        }
        #expect(failure.retryable && failure.side == .upstream)
    }

    /// A machine whose request `h`, received whole, was just sent to the first endpoint on a new connection.
    func sent(_ h: HTTPRequestHead, webSocket: Bool = false) -> HTTPProxyStateMachine {
        var m = HTTPProxyStateMachine()
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h, webSocket: webSocket), table: table, requestID: "r", now: t0)
        _ = m.requestEnd(nil, now: t0)
        _ = m.upstreamAttached(reused: false, now: t0)
        return m
    }

    @Test func aWebSocketHandshakeThatReachedTheUpstreamIsNotSentAgain() {
        var m = sent(head(.GET, Self.handshake), webSocket: true)
        let action = m.upstreamClosed(pickAnother: another())
        #expect(name(action) == "answer 502 close finished")
        #expect(cause(action) == "upstream.closed_before_response body_not_replayable")
    }

    @Test func aClientLeavingAfterALocalAnswerKeepsTheAnswersCause() {
        var m = HTTPProxyStateMachine()
        let h = head(.POST, ["Host": "a", "Content-Length": "3"])
        _ = m.requestHead(h, upgrade: UpgradeRequest(h), plan: .answer(.failure(.init(.noRoute), "x"), close: false), table: table, requestID: "r", now: t0)
        #expect(m.downstreamClosed()?.cause == FailureCause(.noRoute))
        var n = HTTPProxyStateMachine()
        _ = n.requestHead(h, upgrade: UpgradeRequest(h), plan: forward(h), table: table, requestID: "r", now: t0)
        #expect(n.downstreamClosed()?.cause == FailureCause(.clientClosed))
    }

    @Test func successfulExchangesCarryNoCause() {
        var m = sent(head())
        #expect(name(m.upstreamClosed(pickAnother: another())) == "retry 10.0.0.2:80")
        _ = m.upstreamAttached(reused: false, now: t0)
        _ = m.responseHead(HTTPResponseHead(version: .http1_1, status: .ok), upstream: "u", now: t0 + .milliseconds(5), pickAnother: noOther)
        guard case .writeResponseEnd(_, _, _, let finished) = m.responseEnd(nil) else {
            Issue.record("expected the end")
            return
        }
        #expect(finished.cause == nil)
        #expect(finished.failed == [endpoint], "the log's retries: one")
        #expect(finished.upstreamHeadNanos == (t0 + .milliseconds(5)).uptimeNanoseconds)
    }
}
