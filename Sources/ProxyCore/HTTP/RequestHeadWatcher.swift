import NIOCore

/// Sits in front of NIO's HTTP/1 decoder and notes when the first byte of an awaited request head arrives,
/// so that `HTTPProxyHandler` can bound the time a client takes to send the whole head (`ClientHeaderTimeout`,
/// against slowloris) apart from the time a keep-alive connection may idle.
///
/// Owned by the connection's event loop. Per read it costs one flag test; the clock is read once per request.
/// It never looks at the bytes.
final class RequestHeadWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var waiting = true
    /// When the first byte of the awaited head arrived; nil while none has.
    private(set) var headStart: NIODeadline?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if waiting {
            waiting = false
            headStart = .now()
        }
        context.fireChannelRead(data)
    }

    /// The connection now waits for a new request head.
    func awaitHead() {
        waiting = true
        headStart = nil
    }

    /// The head arrived whole.
    func headReceived() {
        waiting = false
        headStart = nil
    }
}
