import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A backend on 127.0.0.1 that speaks bytes, not HTTP: for each request head it receives (everything up to
/// the first blank line) it plays a script of raw writes, pauses and closes, and it records every byte it
/// received. For upstreams no HTTP library would be: invalid status lines, odd framing, non-UTF-8 fields, a
/// head trickled line by line, an answer before the request body is in.
final class RawBackend: Sendable {
    enum Step: Sendable {
        case send(String)
        case sendBytes([UInt8])
        case pause(milliseconds: Int64)
        case close
    }

    private let channel: Channel
    private let state = NIOLockedValueBox((received: [UInt8](), heads: 0, accepted: 0, open: [ObjectIdentifier: Int]()))

    var port: Int { channel.localAddress!.port! }
    /// Every byte received so far, all connections together.
    var received: [UInt8] { state.withLockedValue { $0.received } }
    /// Request heads seen so far.
    var heads: Int { state.withLockedValue { $0.heads } }
    /// Connections accepted so far.
    var accepted: Int { state.withLockedValue { $0.accepted } }
    /// Connections still open that have received no byte at all.
    var openUnused: Int { state.withLockedValue { $0.open.values.filter { $0 == 0 }.count } }
    /// Connections still open.
    var open: Int { state.withLockedValue { $0.open.count } }

    private init(channel: Channel) {
        self.channel = channel
    }

    /// Starts the backend; `script` gets each request head as text (Latin-1 bytes mapped one to one).
    static func start(_ script: @escaping @Sendable (String) -> [Step]) async throws -> RawBackend {
        let box = NIOLockedValueBox<RawBackend?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(script: script, owner: { box.withLockedValue { $0 } }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let backend = RawBackend(channel: channel)
        box.withLockedValue { $0 = backend }
        return backend
    }

    func stop() async {
        try? await channel.close()
    }

    fileprivate func record(_ bytes: [UInt8], connection: ObjectIdentifier, head: Bool) {
        state.withLockedValue {
            $0.received += bytes
            $0.open[connection, default: 0] += bytes.count
            if head { $0.heads += 1 }
        }
    }

    fileprivate func opened(_ connection: ObjectIdentifier) {
        state.withLockedValue {
            $0.accepted += 1
            $0.open[connection] = 0
        }
    }

    fileprivate func closed(_ connection: ObjectIdentifier) {
        _ = state.withLockedValue { $0.open.removeValue(forKey: connection) }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let script: @Sendable (String) -> [Step]
        let owner: @Sendable () -> RawBackend?
        /// Bytes of the current request head so far; nil once the head is complete (the rest is body).
        var head: [UInt8]? = []

        init(script: @escaping @Sendable (String) -> [Step], owner: @escaping @Sendable () -> RawBackend?) {
            self.script = script
            self.owner = owner
        }

        func channelActive(context: ChannelHandlerContext) {
            owner()?.opened(ObjectIdentifier(context.channel))
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            owner()?.closed(ObjectIdentifier(context.channel))
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            guard var current = head else {
                owner()?.record(bytes, connection: ObjectIdentifier(context.channel), head: false)
                return
            }
            current += bytes
            guard let end = current.firstRange(of: [13, 10, 13, 10]) else {
                head = current
                owner()?.record(bytes, connection: ObjectIdentifier(context.channel), head: false)
                return
            }
            owner()?.record(bytes, connection: ObjectIdentifier(context.channel), head: true)
            // One request per connection is all these scripts need: later bytes count as its body.
            head = nil
            let text = String(decoding: current[..<end.upperBound].map { UInt16($0) }, as: UTF16.self)
            play(script(text)[...], context: context)
        }

        private func play(_ steps: ArraySlice<Step>, context: ChannelHandlerContext) {
            guard let step = steps.first else { return }
            let rest = steps.dropFirst()
            switch step {
            case .send(let text):
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: Array(text.utf8))), promise: nil)
            case .sendBytes(let bytes):
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
            case .pause(let ms):
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(ms)) {
                    let (handler, context) = bound.value
                    guard context.channel.isActive else { return }
                    handler.play(rest, context: context)
                }
                return
            case .close:
                context.close(promise: nil)
                return
            }
            play(rest, context: context)
        }
    }
}
