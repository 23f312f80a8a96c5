import NIOCore
import NIOHTTP1
import RouteModel

/// `HTTPProxyHandler`'s one timer per connection, an entry in its loop's `LoopTimers`: keep-alive idle, request
/// head (slowloris), upstream read, client body and send deadlines. Same event loop.
extension HTTPProxyHandler: LoopTimerClient {
    // MARK: - Timers

    func armKeepAliveTimer(_ settings: ProxySettings) {
        // An HTTP/2 stream carries one exchange; the connection's idleness is NIO's connection manager's business
        // (NIOHTTP2ServerConnectionManagementHandler, set up in HTTP2Downstream).
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

    func armReadTimer() {
        guard let exchange = machine.exchange else { return }
        let now = NIODeadline.now()
        readDeadline = now + TimeAmount(exchange.settings.readTimeout)
        // A response head that starts now is due by now + ResponseHeaderTimeout at the earliest: checking then
        // catches a trickling one in time without a timer per request (the check re-arms for the real deadline).
        ensureTimer(min(readDeadline!, now + TimeAmount(exchange.settings.responseHeaderTimeout)))
    }

    func armBodyTimer(_ timeout: Duration) {
        bodyDeadline = .now() + TimeAmount(timeout)
        ensureTimer(bodyDeadline!)
    }

    /// Makes sure the timer fires no later than `deadline`.
    func ensureTimer(_ deadline: NIODeadline) {
        if let timerDeadline, timerDeadline <= deadline { return }
        if let timer { loop.timers.cancel(timer) }
        timerDeadline = deadline
        timer = loop.timers.schedule(self, at: deadline)
    }

    /// Takes the connection's entry out of the wheel (O(1)): no deadline of it fires any more.
    func cancelTimer() {
        if let timer { loop.timers.cancel(timer) }
        timer = nil
        timerDeadline = nil
    }

    func loopTimerFired() {
        timer = nil
        timerDeadline = nil
        timerFired()
    }

    func timerFired() {
        let now = NIODeadline.now()
        if let start = lingerStart {
            let due = min(start + Self.lingerTime, lingerLastRead + Self.lingerIdle)
            if now >= due { context.close(promise: nil) } else { ensureTimer(due) }
            return
        }
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
        if readDeadline != nil, let exchange = machine.exchange, exchange.phase == .forwarding, !exchange.responseStarted {
            // Waiting for the response head: bounded as a whole once it has started (ResponseHeaderTimeout).
            let timeout = TimeAmount(exchange.settings.responseHeaderTimeout)
            if let start = upstream?.headWatcher?.headStart {
                if now - start >= timeout {
                    readDeadline = nil
                    report(exchange, failed: true)
                    run(machine.responseHeadTimedOut(timeout: exchange.settings.responseHeaderTimeout))
                    return
                }
                ensureTimer(start + timeout)
            } else {
                ensureTimer(now + timeout)
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
