import NIOCore

/// One end of a byte relay between two channels of the same event loop (TLS passthrough, WebSocket tunnels):
/// what one channel reads, the other writes.
///
/// Backpressure: a side reads only while its partner's channel is writable. Half-close: when one side's
/// input ends, the partner's output is shut down and the other direction keeps flowing; the relay closes
/// when both directions are done or either side fails. Idle timeout: a relay that carried no byte either way
/// for the timeout closes (checked by one entry per relay in the loop's `LoopTimers`, so it closes between one
/// and two timeouts, plus at most one 100 ms slot, after the last byte; no clock read per read). Owned by the event loop of both channels; it never looks at the
/// bytes.
final class GlueHandler: ChannelDuplexHandler, RemovableChannelHandler, LoopTimerClient {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var inputClosed = false
    private var outputClosed = false
    /// The first bytes can arrive outside a read loop (NIO's SNI handler hands over what it buffered when it
    /// leaves the pipeline, with no read-complete after it): they are flushed at once.
    private var firstRead = true
    /// Reads seen by this end; the idle check compares the sum of both ends between two checks.
    private var reads: UInt64 = 0
    /// Set on the end that owns the relay's idle timer.
    private var idleTimeout: TimeAmount?
    private var timers: LoopTimers?
    private var idleTimer: LoopTimers.Handle?
    private var readsAtLastCheck: UInt64 = 0

    private init() {}

    /// Two ends joined to each other; with `idleTimeout` and the `timers` of their loop, the relay closes once
    /// idle that long.
    static func pair(idleTimeout: TimeAmount? = nil, timers: LoopTimers? = nil) -> (GlueHandler, GlueHandler) {
        let a = GlueHandler(), b = GlueHandler()
        a.partner = b
        b.partner = a
        a.idleTimeout = idleTimeout
        a.timers = timers
        return (a, b)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        armIdleTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelIdleTimer()
        self.context = nil
        partner = nil
    }

    private func armIdleTimer() {
        guard let idleTimeout, let timers, context != nil else { return }
        idleTimer = timers.schedule(self, at: .now() + idleTimeout)
    }

    private func cancelIdleTimer() {
        if let idleTimer { timers?.cancel(idleTimer) }
        idleTimer = nil
    }

    func loopTimerFired() {
        idleTimer = nil
        let total = reads &+ (partner?.reads ?? 0)
        if total == readsAtLastCheck {
            partner?.partnerClosed()
            context?.close(promise: nil)
        } else {
            readsAtLastCheck = total
            armIdleTimer()
        }
    }

    // MARK: Calls from the partner

    private func partnerWrite(_ data: NIOAny) {
        context?.write(data, promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private func partnerInputClosed() {
        guard let context else { return }
        outputClosed = true
        if inputClosed {
            context.close(promise: nil)
        } else {
            context.close(mode: .output, promise: nil)
        }
    }

    private func partnerClosed() {
        context?.close(promise: nil)
    }

    private var partnerIsWritable: Bool { context?.channel.isWritable ?? false }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    // MARK: Own channel

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reads &+= 1
        partner?.partnerWrite(data)
        if firstRead {
            firstRead = false
            partner?.partnerFlush()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelIdleTimer()
        partner?.partnerClosed()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            // Whatever was read goes out before the partner's output is shut.
            partner?.partnerFlush()
            partner?.partnerInputClosed()
            if outputClosed { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.partnerIsWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
