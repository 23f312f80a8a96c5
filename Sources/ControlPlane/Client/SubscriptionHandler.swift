import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// What happens on a proxy's subscription stream, for the client's task to act on.
enum SubscriptionEvent: Sendable {
    case message(ControlMessage)
    case closed(String)
}

/// The proxy's end of one subscription stream: sends the request head and hello, cuts the response body into
/// messages for the client's task, heartbeats, and closes a stream on which the controller fell silent.
final class SubscriptionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let hello: ControlMessage.Hello
    private let events: AsyncStream<SubscriptionEvent>.Continuation
    private let heartbeat: TimeAmount
    private let deadAfter: TimeAmount
    /// The version applied, read for heartbeats.
    private let applied: NIOLockedValueBox<String?>
    private var reader = ControlFrameReader(limit: ControlFrameReader.snapshotLimit)
    private var lastReceived = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var ended = false

    init(hello: ControlMessage.Hello, events: AsyncStream<SubscriptionEvent>.Continuation, heartbeat: TimeAmount,
         deadAfter: TimeAmount, applied: NIOLockedValueBox<String?>) {
        self.hello = hello
        self.events = events
        self.heartbeat = heartbeat
        self.deadAfter = deadAfter
        self.applied = applied
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "host", value: ControlPlaneNames.controller)
        headers.add(name: "content-type", value: "application/vnd.pier.control")
        let head = HTTPRequestHead(version: .http2, method: .POST, uri: SubscriberHandler.path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: 256)
        ControlMessage.hello(hello).write(to: &buffer)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        lastReceived = .now()
        scheduleTick(context: context)
        context.fireChannelActive()
    }

    private func scheduleTick(context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: heartbeat) { [self] in
            guard !ended else { return }
            if NIODeadline.now() - lastReceived > deadAfter {
                end("the controller sent nothing for \(deadAfter.nanoseconds / 1_000_000_000) s", context: context)
                return
            }
            var buffer = context.channel.allocator.buffer(capacity: 64)
            ControlMessage.heartbeat(version: applied.withLockedValue { $0 }).write(to: &buffer)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            scheduleTick(context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastReceived = .now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status != .ok { end("the controller answered \(head.status.code)", context: context) }
        case .body(let bytes):
            reader.append(bytes)
            do {
                while let message = try reader.next() { events.yield(.message(message)) }
            } catch {
                end("\(error)", context: context)
            }
        case .end:
            end("the controller ended the subscription", context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish("connection closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        end("\(error)", context: context)
    }

    private func end(_ reason: String, context: ChannelHandlerContext) {
        finish(reason)
        context.close(promise: nil)
    }

    private func finish(_ reason: String) {
        guard !ended else { return }
        ended = true
        timer?.cancel()
        events.yield(.closed(reason))
        events.finish()
    }
}

/// Remembers the first error of a control connection (a refused certificate, above all), for the log line
/// that says why a controller could not be used.
final class FirstErrorRecorder: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    let error = NIOLockedValueBox<String?>(nil)

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.error.withLockedValue { if $0 == nil { $0 = "\(error)" } }
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
