import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// One GET against an admin entrypoint (`pier health`, `pier status`): status code and body, or 0 and the
/// error when nothing answered in time. `token` goes in `Authorization: Bearer`.
public enum AdminProbe {
    public static func get(host: String, port: Int, path: String, token: String? = nil, timeout: TimeAmount) async -> (status: Int, body: String) {
        let collector = Collector()
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(collector)
                    }
                }
                .connect(host: host, port: port).get()
            var headers = HTTPHeaders()
            headers.add(name: "host", value: host)
            headers.add(name: "connection", value: "close")
            if let token { headers.add(name: "authorization", value: "Bearer \(token)") }
            channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)),
                          promise: nil)
            try await channel.writeAndFlush(HTTPClientRequestPart.end(nil))
            channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            try await channel.closeFuture.get()
            return collector.result.withLockedValue { $0 } ?? (0, "no answer from \(host):\(port)")
        } catch {
            return (0, "cannot reach \(host):\(port): \(error)")
        }
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPClientResponsePart
        let result = NIOLockedValueBox<(Int, String)?>(nil)
        private let partial = NIOLockedValueBox<(Int, String)>((0, ""))

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): partial.withLockedValue { $0.0 = Int(head.status.code) }
            case .body(let bytes): partial.withLockedValue { $0.1 += String(buffer: bytes) }
            case .end:
                let done = partial.withLockedValue { $0 }
                result.withLockedValue { $0 = done }
                context.close(promise: nil)
            }
        }
    }
}
