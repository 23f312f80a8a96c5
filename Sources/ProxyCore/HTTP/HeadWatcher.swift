import NIOCore

/// When the first byte of an awaited message head arrived: what `HTTPProxyHandler` bounds the head's
/// arrival by (`ClientHeaderTimeout` for a request head, `ResponseHeaderTimeout` for a response head).
/// `HeadWatcher` answers it in front of NIO's decoders; Pier's own codecs answer it themselves.
protocol HeadTiming: AnyObject {
    /// When the first byte of the awaited head arrived; nil while none has (or none is awaited).
    var headStart: NIODeadline? { get }
    /// The connection now waits for a new head.
    func awaitHead()
    /// The head arrived whole.
    func headReceived()
}

/// Sits in front of one of NIO's HTTP/1 decoders and notes when the first byte of an awaited message head
/// arrives, so that `HTTPProxyHandler` can bound the time the peer takes to send the whole head apart from
/// the time it may take before starting it: a client's request head (`ClientHeaderTimeout`, against
/// slowloris, apart from the keep-alive idle time) and an upstream's response head (`ResponseHeaderTimeout`,
/// apart from `ReadTimeout`).
///
/// Owned by the connection's event loop. Per read it costs one flag test; the clock is read once per
/// message. It never looks at the bytes.
final class HeadWatcher: ChannelInboundHandler, RemovableChannelHandler, HeadTiming {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var waiting: Bool
    /// When the first byte of the awaited head arrived; nil while none has.
    private(set) var headStart: NIODeadline?

    /// `awaiting`: whether a head is awaited from the start (a client's first request) or only after
    /// `awaitHead()` (an upstream's response, once a request went out).
    init(awaiting: Bool) {
        waiting = awaiting
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if waiting {
            waiting = false
            headStart = .now()
        }
        context.fireChannelRead(data)
    }

    /// The connection now waits for a new head.
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
