import NIOCore
import NIOHTTP1
import RouteModel

/// The upstream side of `HTTPProxyHandler`: response parts, connections from the loop's pool, retries,
/// passive health reports, least-connections accounting and the switch to a WebSocket tunnel. Same event loop.
extension HTTPProxyHandler {
    // MARK: - Upstream events

    func upstreamReceived(_ part: UpstreamResponsePart) {
        guard let upstream else { return }
        switch part {
        case .head(let head):
            // Pier's codec enforces the same rules while parsing (h2c streams come through NIO's codec).
            let invalid = head.problem
            let failed = invalid != nil || (502...504).contains(head.status.code)
            let now = NIODeadline.now()
            if let exchange = machine.exchange {
                report(exchange, failed: failed)
                countUpstreamResponse(exchange, now: now)
            }
            run(machine.responseHead(head, invalid: invalid, upstream: upstream.address, now: now,
                                     headBuffer: machine.encodesResponses ? loop.headBuffers.take() : nil,
                                     strings: machine.writesHeaderBlocks ? loop.strings : nil,
                                     pickAnother: { retryTarget(for: $0, excluding: $1) }))
        case .body(let buffer):
            run(machine.responseBody(buffer, now: .now()))
        case .end(let trailers):
            readDeadline = nil
            run(machine.responseEnd(trailers))
        }
    }

    func upstreamReadComplete() {
        if downstreamNeedsFlush {
            downstreamNeedsFlush = false
            context.flush()
        }
    }

    func upstreamFailed(_ error: Error?) {
        upstream = nil
        readDeadline = nil
        // A pooled connection closing as it was reused is a race with the endpoint's idle timeout, not a
        // sign of bad health.
        if let exchange = machine.exchange, exchange.phase == .forwarding, !exchange.responseStarted,
            !exchange.reusedUpstream || DecodeError.unparsable(error) != nil
        {
            report(exchange, failed: true)
        }
        run(machine.upstreamClosed(unparsable: DecodeError.unparsable(error), pickAnother: { retryTarget(for: $0, excluding: $1) }))
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable { resumeReads() } else { readsPaused = true }
    }

    /// The upstream switched protocols: the client gets the 101, then both connections become a byte relay
    /// and this handler leaves the pipeline. The tunnel keeps its endpoint whatever later tables say.
    func startTunnel(_ head: OutgoingResponseHead, finished: HTTPExchange) {
        cancelTimer()
        readDeadline = nil
        bodyDeadline = nil
        idleSince = nil
        // Least connections counts the tunnel while it is open, not just its handshake.
        let counted = finished.countedOn
        finished.countedOn = nil
        // Read before `ended`, which lets the exchange's references go.
        let pool = finished.pool, readTimeout = finished.settings.readTimeout
        ended(finished)
        guard let connection = upstream else {
            if let counted { loop.requestEnded(on: counted) }
            return context.close(promise: nil)
        }
        if let counted {
            connection.channel.closeFuture.assumeIsolated().whenComplete { [loop] _ in loop.requestEnded(on: counted) }
        }
        if let pool { loop.countUpstream(connection.channel, of: pool, opened: \.webSocketOpened, closed: \.webSocketClosed) }
        upstream = nil
        connection.delegate = nil
        sendAndFlush(.head(head))
        do {
            try HTTPTunnel.splice(downstream: context, upstream: connection.channel,
                                  idleTimeout: TimeAmount(readTimeout), timers: loop.timers)
        } catch {
            connection.close()
            context.close(promise: nil)
        }
    }

    /// Gets the exchange a connection to `endpoint`: an idle pooled one unless `fresh`, else a new one.
    func acquire(_ endpoint: Endpoint, fresh: Bool) {
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
    func ended(_ exchange: HTTPExchange) {
        loop.headBuffers.giveBack(exchange.upstreamHead)
        if let endpoint = exchange.countedOn {
            exchange.countedOn = nil
            loop.requestEnded(on: endpoint)
        }
        if loop.metrics != nil { countEnded(exchange) }
        log(exchange)
        loop.exchanges.giveBack(exchange)
    }

    /// Passive health: what the exchange's current endpoint just did.
    func report(_ exchange: HTTPExchange, failed: Bool) {
        guard let endpoint = exchange.endpoint else { return }
        guard failed else { return loop.reportSuccess(endpoint) }
        guard let health = exchange.pool?.passiveHealth else { return }
        loop.reportFailure(endpoint, health: health, now: NIODeadline.now().uptimeNanoseconds)
    }

    /// Another endpoint of the exchange's pool for a retry, within the budget (the state machine's chooser;
    /// passed as a non-escaping closure, so that no closure is allocated per response).
    func retryTarget(for exchange: HTTPExchange, excluding excluded: [Endpoint]) -> RetryPick {
        guard let pool = exchange.pool else { return .refused(.noOtherEndpoint) }
        return loop.pickForRetry(pool, affinityKey: exchange.affinityKey, excluding: excluded, now: NIODeadline.now().uptimeNanoseconds)
    }

    func connect(_ endpoint: Endpoint) {
        // Hold client reads until the upstream can take the body: memory stays bounded.
        readsPaused = true
        let exchange = machine.exchange
        let settings = exchange?.settings ?? tables.current.settings
        let upstreamProtocol = exchange?.upstreamProtocol ?? .http1
        loop.pool.connect(endpoint, protocol: upstreamProtocol, timeout: settings.connectTimeout).assumeIsolated().whenComplete { [self] result in
            guard let exchange, machine.exchange === exchange, exchange.phase == .connecting else {
                // The exchange ended meanwhile (client gone, local answer). The connection carried no request:
                // pooling it would park connections nobody asked for on the endpoint (a burst of abandoned
                // HTTP/2 streams parked a hundred, and backends with a worker per connection stalled).
                if case .success(let connection) = result { connection.close() }
                return
            }
            switch result {
            case .success(let connection):
                if upstreamProtocol == .http1, let pool = exchange.pool {
                    loop.countUpstream(connection.channel, of: pool, opened: \.upstreamOpened, closed: \.upstreamClosed)
                }
                attach(connection, reused: false)
            case .failure(let error):
                if let pool = exchange.pool { loop.countConnectFailure(pool, error: error) }
                let timedOut: Bool
                if case ChannelError.connectTimeout = error { timedOut = true } else { timedOut = false }
                report(exchange, failed: true)
                run(machine.upstreamConnectFailed(timedOut: timedOut, pickAnother: { retryTarget(for: $0, excluding: $1) }))
            }
        }
    }

    func attach(_ connection: UpstreamConnection, reused: Bool) {
        upstream = connection
        connection.delegate = self
        connection.headWatcher?.awaitHead()
        connection.readsPaused = !context.channel.isWritable
        run(machine.upstreamAttached(reused: reused, now: .now()))
        if connection.channel.isWritable { resumeReads() } else { readsPaused = true }
    }

    func releaseUpstreamToPool(_ settings: ProxySettings) {
        guard let connection = upstream else { return }
        upstream = nil
        loop.pool.release(connection, maxIdle: settings.maxIdleUpstreamConnections, idleTimeout: settings.upstreamIdleTimeout)
    }

    func dropUpstream() {
        guard let connection = upstream else { return }
        upstream = nil
        connection.delegate = nil
        connection.close()
    }
}
