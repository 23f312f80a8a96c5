import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Just enough of a Docker Engine API (1.41) on 127.0.0.1 for `pier serve --docker-host tcp://…`: `/version`,
/// the four lists the Swarm provider reads, and an `/events` stream that sends one event every `eventInterval`,
/// so that Pier resyncs as fast as it can without a real dockerd.
///
/// `services` routes `count` services `svc<i>.swarm.test` to one task each; `variant` (set per answer by
/// `variantOfResync`, given how many `/services` reads came before) renames the first service's host, so a
/// test chooses which resyncs find a changed engine.
final class FakeDockerEngine: Sendable {
    private let channel: Channel
    private let reads: NIOLockedValueBox<Int>

    var port: Int { channel.localAddress!.port! }
    /// `/services` reads so far: one per resync.
    var resyncs: Int { reads.withLockedValue { $0 } }

    private init(channel: Channel, reads: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.reads = reads
    }

    static func start(services count: Int, eventInterval: TimeAmount = .milliseconds(10),
                      variantOfResync: @escaping @Sendable (Int) -> Int) async throws -> FakeDockerEngine {
        let reads = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(count: count, eventInterval: eventInterval) {
                        let n = reads.withLockedValue { n in
                            defer { n += 1 }
                            return n
                        }
                        return variantOfResync(n)
                    })
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FakeDockerEngine(channel: channel, reads: reads)
    }

    func stop() async {
        try? await channel.close()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let count: Int
        let eventInterval: TimeAmount
        let nextVariant: @Sendable () -> Int
        var events: RepeatedTask?

        init(count: Int, eventInterval: TimeAmount, nextVariant: @escaping @Sendable () -> Int) {
            self.count = count
            self.eventInterval = eventInterval
            self.nextVariant = nextVariant
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else { return }
            let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
            let body: String
            switch path {
            case "/version": body = #"{"Version":"20.10.0","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#
            case "/v1.41/services": body = services(variant: nextVariant())
            case "/v1.41/tasks": body = tasks()
            case "/v1.41/networks": body = #"[{"Id":"net1","Name":"app-net","Driver":"overlay","Scope":"swarm"}]"#
            case "/v1.41/nodes": body = #"[{"ID":"node1","Status":{"State":"ready","Addr":"127.0.0.1"}}]"#
            case "/v1.41/events":
                streamEvents(context: context)
                return
            default:
                reply(context: context, status: .notFound, body: #"{"message":"not here"}"#)
                return
            }
            reply(context: context, status: .ok, body: body)
        }

        func reply(context: ChannelHandlerContext, status: HTTPResponseStatus, body: String) {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(body.utf8.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        /// A chunked answer that never ends: one service update event per interval.
        func streamEvents(context: ChannelHandlerContext) {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            events = context.eventLoop.scheduleRepeatedTask(initialDelay: eventInterval, delay: eventInterval) { _ in
                let (handler, context) = loopBound.value
                let line = #"{"Type":"service","Action":"update","Actor":{"ID":"svc0"}}"# + "\n"
                context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: line)))), promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            events?.cancel()
            context.fireChannelInactive()
        }

        func services(variant: Int) -> String {
            let items = (0..<count).map { i in
                let host = i == 0 ? "svc0-v\(variant).swarm.test" : "svc\(i).swarm.test"
                return #"{"ID":"svc\#(i)","Spec":{"Name":"svc\#(i)","Labels":{"com.docker.lb.hosts":"\#(host)","com.docker.lb.port":"8080"},"TaskTemplate":{"Networks":[{"Target":"net1"}]}}}"#
            }
            return "[" + items.joined(separator: ",") + "]"
        }

        func tasks() -> String {
            let items = (0..<count).map { i in
                #"{"ID":"task\#(i)","ServiceID":"svc\#(i)","NodeID":"node1","Slot":1,"DesiredState":"running","Status":{"State":"running"},"NetworksAttachments":[{"Network":{"ID":"net1","Spec":{"Name":"app-net"}},"Addresses":["10.0.0.\#(i + 2)/24"]}]}"#
            }
            return "[" + items.joined(separator: ",") + "]"
        }
    }
}
