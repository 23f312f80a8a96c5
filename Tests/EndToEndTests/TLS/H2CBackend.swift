import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// An HTTP/2 cleartext server with prior knowledge, as gRPC servers are: answers every stream with the
/// request it saw (method, path, version, `te`) and a `grpc-status: 0` trailer; counts connections and streams.
final class H2CBackend: Sendable {
    let channel: Channel
    let port: Int
    private let counts: NIOLockedValueBox<(connections: Int, streams: Int)>

    var connections: Int { counts.withLockedValue { $0.connections } }
    var streams: Int { counts.withLockedValue { $0.streams } }

    private init(channel: Channel, counts: NIOLockedValueBox<(connections: Int, streams: Int)>) {
        self.channel = channel
        self.port = channel.localAddress!.port!
        self.counts = counts
    }

    static func start() async throws -> H2CBackend {
        let counts = NIOLockedValueBox((connections: 0, streams: 0))
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                counts.withLockedValue { $0.connections += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
                    ) { stream in
                        counts.withLockedValue { $0.streams += 1 }
                        return stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                            try stream.pipeline.syncOperations.addHandler(Answer())
                        }
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return H2CBackend(channel: channel, counts: counts)
    }

    func stop() async {
        try? await channel.close()
    }

    private final class Answer: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        private var head: HTTPRequestHead?
        private var received = 0

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
            case .body(let b):
                received += b.readableBytes
            case .end:
                guard let head else { return }
                let text = "backend=h2c\nmethod=\(head.method.rawValue)\nuri=\(head.uri)\nversion=\(head.version.major)\n"
                    + "te=\(head.headers.first(name: "te") ?? "-")\nreceived=\(received)\nforwarded-proto=\(head.headers.first(name: "x-forwarded-proto") ?? "-")\n"
                var headers = HTTPHeaders()
                headers.add(name: "content-type", value: "text/plain")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(["grpc-status": "0", "grpc-message": "ok"])), promise: nil)
            }
        }
    }
}
