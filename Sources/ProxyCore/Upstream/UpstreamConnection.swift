import NIOCore
import NIOHTTP1
import RouteModel

/// What an upstream connection reports to the request that currently uses it. Called on the connection's
/// event loop, which is also the downstream connection's.
protocol UpstreamConnectionDelegate: AnyObject {
    /// A part of the upstream response arrived.
    func upstreamReceived(_ part: UpstreamResponsePart)
    /// The connection closed or failed before the response ended.
    func upstreamFailed(_ error: Error?)
    /// The connection's writability changed (backpressure for the request body).
    func upstreamWritabilityChanged(isWritable: Bool)
    /// A read burst from the upstream ended: time to flush what was written downstream.
    func upstreamReadComplete()
}

/// One HTTP/1.1 connection to an endpoint, used by one request at a time and pooled between requests; or
/// one HTTP/2 stream (h2c upstreams), used by one request and closed after it.
///
/// Lives on one event loop (the one that connected it) and is only touched there.
final class UpstreamConnection {
    let channel: Channel
    let endpoint: Endpoint
    /// An HTTP/2 stream rather than a connection of its own: never pooled.
    let isStream: Bool
    /// Set while a request uses the connection; nil while pooled. Strong on purpose (a weak reference
    /// would put every retain of the handler on the slow path): whoever attaches a delegate clears it when
    /// the exchange ends, and the upstream handler clears it when the channel closes.
    var delegate: UpstreamConnectionDelegate?
    /// When the connection went back to the pool.
    var idleSince: NIODeadline = .now()
    /// How long it may stay there (its service's upstream idle timeout).
    var idleTimeout: TimeAmount = .seconds(60)
    /// `endpoint.description`, computed once for the `x-upstream-addr` header of every response.
    let address: String
    fileprivate(set) var isClosed = false
    /// Pauses reading from upstream while the downstream cannot take more (backpressure).
    var readsPaused = false {
        didSet {
            if !readsPaused, oldValue, pendingRead {
                pendingRead = false
                channel.read()
            }
        }
    }
    fileprivate var pendingRead = false
    /// Notes when the response head starts arriving (nil on HTTP/2 streams, whose heads arrive whole).
    var headWatcher: (any HeadTiming)?
    /// Pier's codec below the upstream handler, which takes request parts straight from here (NIO's pipeline
    /// would box each part); nil on h2c streams and with `--http1-codec nio`.
    var codec: HTTP1ClientCodecHandler?
    fileprivate var onClose: ((UpstreamConnection) -> Void)?

    init(channel: Channel, endpoint: Endpoint, isStream: Bool = false) {
        self.channel = channel
        self.endpoint = endpoint
        self.isStream = isStream
        self.address = endpoint.description
    }

    /// The upstream handler's context, once added: writes start there rather than at the pipeline's tail,
    /// which saves two handler hops per write on the hot path.
    fileprivate var context: ChannelHandlerContext?

    func write(_ part: UpstreamRequestPart, flush: Bool) {
        if let codec, let context {
            codec.write(part, promise: nil)
            if flush { context.flush() }
            return
        }
        guard let context else {
            return flush ? channel.writeAndFlush(part, promise: nil) : channel.write(part, promise: nil)
        }
        if flush {
            context.writeAndFlush(NIOAny(part), promise: nil)
        } else {
            context.write(NIOAny(part), promise: nil)
        }
    }

    func flush() {
        if let context { context.flush() } else { channel.flush() }
    }

    func close() {
        guard !isClosed else { return }
        channel.close(promise: nil)
    }
}

/// The last handler of an upstream channel: passes response parts to the connection's delegate, holds reads
/// while the downstream is slow, and reports closes.
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = UpstreamResponsePart
    typealias OutboundIn = UpstreamRequestPart
    typealias OutboundOut = UpstreamRequestPart

    var connection: UpstreamConnection? {
        didSet { connection?.context = context }
    }
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        connection?.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The tunnel removes this handler: later writes (none) would go through the channel.
        connection?.context = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received(unwrapInboundIn(data), context: context)
    }

    /// A response part, through the pipeline or straight from Pier's codec below (whose context is given).
    func received(_ part: UpstreamResponsePart, context: ChannelHandlerContext) {
        guard let connection, let delegate = connection.delegate else {
            // Bytes on an idle pooled connection: the upstream is confused or closing; never reuse it.
            context.close(promise: nil)
            return
        }
        if case .head(let head) = part, (100..<200).contains(head.status.code), head.status != .switchingProtocols {
            // An interim response (102 Processing, 103 Early Hints): not relayed (NIO's decoder used to drop
            // them); the final head's `ResponseHeaderTimeout` starts with its own first byte.
            connection.headWatcher?.awaitHead()
            return
        }
        delegate.upstreamReceived(part)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection?.delegate?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if let connection, connection.readsPaused {
            connection.pendingRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection?.delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let connection, let delegate = connection.delegate {
            connection.delegate = nil
            delegate.upstreamFailed(error)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard let connection else { return }
        connection.isClosed = true
        connection.onClose?(connection)
        connection.onClose = nil
        if let delegate = connection.delegate {
            connection.delegate = nil
            delegate.upstreamFailed(nil)
        }
        connection.context = nil
        self.connection = nil
    }
}

extension UpstreamConnection {
    func setOnClose(_ callback: @escaping (UpstreamConnection) -> Void) {
        onClose = callback
    }
}

