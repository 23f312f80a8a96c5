import NIOCore
import NIOHTTP1

/// Between NIO's HTTP/1 server codec (`--http1-codec nio`) or HTTP/2 stream codec and `HTTPProxyHandler`:
/// NIO's request parts in, Pier's out; Pier's response parts in, NIO's out. The proxy writes a response head
/// as bytes only for Pier's codec, so an encoded head never reaches this handler.
final class NIOServerPartAdapter: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = DownstreamRequestPart
    typealias OutboundIn = DownstreamResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The handler right above (`HTTPProxyHandler`), taking parts straight from here rather than boxed once
    /// more by the pipeline. Cleared when this handler leaves.
    var receiver: DownstreamPartReceiver?

    func handlerRemoved(context: ChannelHandlerContext) {
        receiver = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part: DownstreamRequestPart
        switch unwrapInboundIn(data) {
        case .head(let head): part = .head(RequestHead(head))
        case .body(let body): part = .body(body)
        case .end(let trailers): part = .end(trailers)
        }
        if let receiver { receiver.received(part) } else { context.fireChannelRead(wrapInboundOut(part)) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let part = HTTPServerResponsePart(unwrapOutboundIn(data)) else {
            promise?.fail(EncodedHeadError())
            return
        }
        context.write(wrapOutboundOut(part), promise: promise)
    }
}

/// Between NIO's HTTP/1 client codec (`--http1-codec nio`) or an h2c stream's codec and `UpstreamHandler`.
final class NIOClientPartAdapter: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias InboundOut = UpstreamResponsePart
    typealias OutboundIn = UpstreamRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): context.fireChannelRead(wrapInboundOut(.head(ResponseHead(head))))
        case .body(let body): context.fireChannelRead(wrapInboundOut(.body(body)))
        case .end(let trailers): context.fireChannelRead(wrapInboundOut(.end(trailers)))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(.nio(let head)): context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .head(.encoded): promise?.fail(EncodedHeadError())
        case .body(let body): context.write(wrapOutboundOut(.body(body)), promise: promise)
        case .end(let trailers): context.write(wrapOutboundOut(.end(trailers)), promise: promise)
        }
    }
}

/// A head already framed for one protocol (HTTP/1.1 bytes, an HTTP/2 header block) reached a pipeline of
/// another (a bug, never a peer's doing).
struct EncodedHeadError: Error, CustomStringConvertible {
    var description: String { "a head framed for another protocol reached this pipeline" }
}

extension HTTPServerResponsePart {
    /// The part as NIO's type; nil for a head written as bytes or as an HTTP/2 header block.
    init?(_ part: DownstreamResponsePart) {
        switch part {
        case .head(.nio(let head)): self = .head(head)
        case .head(.encoded), .head(.http2): return nil
        case .body(let body): self = .body(body)
        case .end(let trailers): self = .end(trailers)
        }
    }
}
