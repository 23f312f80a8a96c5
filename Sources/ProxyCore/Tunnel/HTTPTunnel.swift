import NIOCore
import NIOHTTP1

/// Turns an HTTP/1.1 exchange whose upstream switched protocols (a WebSocket handshake answered 101) into a
/// byte relay: the HTTP handlers leave both pipelines and a `GlueHandler` pair joins the two connections.
///
/// Runs on the event loop both channels share, right after the 101 went to the client. Bytes the upstream
/// sent right behind its 101 are handed on by NIO's decoder as it leaves (`.forwardBytes`); the client sends
/// nothing before it has seen the 101 (RFC 6455 §4.1), so the downstream decoder has nothing to hand on.
enum HTTPTunnel {
    /// Splices the downstream connection of `proxyHandler` (whose context is `context`) to `upstream`; the
    /// relay's idle timeout is a deadline in `timers`, those of the channels' loop.
    static func splice(downstream context: ChannelHandlerContext, upstream: Channel, idleTimeout: TimeAmount?,
                       timers: LoopTimers) throws {
        let down = context.pipeline.syncOperations
        let up = upstream.pipeline.syncOperations
        // Bytes Pier's codecs hold past the switch go to the relay once no HTTP handler is left to see them.
        let heldDown = (try? down.handler(type: HTTP1ServerCodecHandler.self))?.takeHeldBytes()
        let heldUp = (try? up.handler(type: HTTP1ClientCodecHandler.self))?.takeHeldBytes()
        let (client, server) = GlueHandler.pair(idleTimeout: idleTimeout, timers: timers)
        try down.addHandler(client)
        try up.addHandler(server)
        // Removal order matters upstream: the decoder goes last, so that what it hands on reaches the relay.
        var upstreamHandlers: [RemovableChannelHandler] = [try up.handler(type: UpstreamHandler.self)]
        if let adapter = try? up.handler(type: NIOClientPartAdapter.self) { upstreamHandlers.append(adapter) }
        if let codec = try? up.handler(type: HTTP1ClientCodecHandler.self) {
            upstreamHandlers.append(codec)
        } else {
            upstreamHandlers += [
                try up.handler(type: HTTPRequestEncoder.self),
                try up.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self),
            ]
        }
        for handler in upstreamHandlers { up.removeHandler(handler, promise: nil) }
        if let watcher = try? up.handler(type: HeadWatcher.self) { up.removeHandler(watcher, promise: nil) }
        var downstreamHandlers: [RemovableChannelHandler] = []
        if let adapter = try? down.handler(type: NIOServerPartAdapter.self) { downstreamHandlers.append(adapter) }
        if let codec = try? down.handler(type: HTTP1ServerCodecHandler.self) {
            downstreamHandlers.append(codec)
        } else {
            downstreamHandlers += [
                try down.handler(type: HTTPResponseEncoder.self),
                try down.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self),
            ]
        }
        if let watcher = try? down.handler(type: HeadWatcher.self) { downstreamHandlers.append(watcher) }
        for handler in downstreamHandlers { down.removeHandler(handler, promise: nil) }
        down.removeHandler(context: context, promise: nil)
        if let heldUp { up.fireChannelRead(NIOAny(heldUp)) }
        if let heldDown { down.fireChannelRead(NIOAny(heldDown)) }
        // Reads held by the HTTP handlers are the relay's to resume.
        context.channel.read()
        upstream.read()
    }
}
