import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A real HTTP backend on 127.0.0.1 that says who answered and what it saw, and can be made slow, silent,
/// rude or dead on demand through the request path:
/// - `/slow/<ms>`: answers after a delay; `/hang`: never answers; `/close`: closes without answering;
///   `/flaky`: answers the first request of a connection, closes without answering on later ones;
///   `/noread`: stops reading after the request head, so the request body backs up;
/// - `/download/<bytes>`: streams that many bytes with backpressure; `/upload`: counts the body and answers
///   `received=<n>`; anything else: `backend=<name>` then `method=`, `uri=` and one `h:<name>=<value>` line
///   per request header.
/// `/healthz` answers 200 or 503 as `healthy` says; `status` and `delay` apply to the echo answer; `kill()` is a
/// process death: the listener and every open connection close at once.
final class TestBackend: Sendable {
    let name: String
    private let channel: Channel
    private let counters = NIOLockedValueBox((connections: 0, requests: 0, downloaded: 0))
    private let children = NIOLockedValueBox<[Channel]>([])
    private let health = NIOLockedValueBox(true)
    /// What `/healthz` answers: 200 while true, 503 otherwise.
    var healthy: Bool {
        get { health.withLockedValue { $0 } }
        set { health.withLockedValue { $0 = newValue } }
    }

    var port: Int { channel.localAddress!.port! }
    var connections: Int { counters.withLockedValue { $0.connections } }
    var requests: Int { counters.withLockedValue { $0.requests } }
    /// Bytes of `/download/` bodies written to the sockets so far (taken by the kernel or queued in NIO).
    var downloaded: Int { counters.withLockedValue { $0.downloaded } }

    private init(name: String, channel: Channel) {
        self.name = name
        self.channel = channel
    }

    static func start(_ name: String, status: HTTPResponseStatus = .ok, delay: Int64 = 0,
                      group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> TestBackend {
        let box = NIOLockedValueBox<TestBackend?>(nil)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    box.withLockedValue { $0 }?.counters.withLockedValue { $0.connections += 1 }
                    box.withLockedValue { $0 }?.children.withLockedValue { $0.append(channel) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(name: name, status: status, delay: delay, healthy: {
                        box.withLockedValue { $0 }?.healthy ?? true
                    }, onRequest: {
                        box.withLockedValue { $0 }?.counters.withLockedValue { $0.requests += 1 }
                    }, onDownload: { bytes in
                        box.withLockedValue { $0 }?.counters.withLockedValue { $0.downloaded += bytes }
                    }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let backend = TestBackend(name: name, channel: channel)
        box.withLockedValue { $0 = backend }
        return backend
    }

    func stop() async {
        try? await channel.close()
    }

    /// Dies: the listener and every connection close, requests under way get no answer.
    func kill() async {
        try? await channel.close()
        for child in children.withLockedValue({ $0 }) { try? await child.close() }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let name: String
        let status: HTTPResponseStatus
        let delay: Int64
        let healthy: @Sendable () -> Bool
        let onRequest: @Sendable () -> Void
        let onDownload: @Sendable (Int) -> Void
        var head: HTTPRequestHead?
        var received = 0
        var requestsOnConnection = 0

        init(name: String, status: HTTPResponseStatus, delay: Int64, healthy: @escaping @Sendable () -> Bool,
             onRequest: @escaping @Sendable () -> Void, onDownload: @escaping @Sendable (Int) -> Void) {
            self.name = name
            self.status = status
            self.delay = delay
            self.healthy = healthy
            self.onRequest = onRequest
            self.onDownload = onDownload
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
                received = 0
                onRequest()
                requestsOnConnection += 1
                // `/flaky` acts like a keep-alive connection the server closed just as it was reused.
                if h.uri == "/close" || (h.uri == "/flaky" && requestsOnConnection > 1) { context.close(promise: nil) }
                // `/noread` stops reading the request: its body backs up into Pier.
                if h.uri == "/noread" { context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
            case .body(let b):
                received += b.readableBytes
            case .end:
                guard let head else { return }
                self.head = nil
                respond(context: context, head: head)
            }
        }

        private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
            let path = head.uri
            if path == "/hang" { return }
            if path.hasPrefix("/slow/"), let ms = Int64(path.dropFirst(6)) {
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(ms)) {
                    let (handler, context) = loopBound.value
                    handler.send(context: context, head: head, text: "backend=\(handler.name)\nslept=\(ms)\n")
                }
                return
            }
            if path.hasPrefix("/download/"), let total = Int(path.dropFirst(10)) {
                var headers = HTTPHeaders()
                headers.add(name: "content-length", value: String(total))
                headers.add(name: "x-backend", value: name)
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
                let chunk = context.channel.allocator.buffer(repeating: UInt8(ascii: "x"), count: 64 * 1024)
                streamDownload(context: context, remaining: total, chunk: chunk)
                return
            }
            if path == "/healthz" {
                return send(context: context, head: head, text: "backend=\(name)\n", status: healthy() ? .ok : .serviceUnavailable)
            }
            if path == "/upload" {
                return send(context: context, head: head, text: "received=\(received)\n")
            }
            var text = "backend=\(name)\nmethod=\(head.method.rawValue)\nuri=\(head.uri)\n"
            for (k, v) in head.headers { text += "h:\(k.lowercased())=\(v)\n" }
            guard delay > 0 else { return send(context: context, head: head, text: text, status: status) }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let answer = text
            context.eventLoop.scheduleTask(in: .milliseconds(delay)) {
                let (handler, context) = loopBound.value
                guard context.channel.isActive else { return }
                handler.send(context: context, head: head, text: answer, status: handler.status)
            }
        }

        private func streamDownload(context: ChannelHandlerContext, remaining: Int, chunk: ByteBuffer) {
            var remaining = remaining
            while remaining > 0, context.channel.isWritable {
                let n = min(remaining, chunk.readableBytes)
                context.write(wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: chunk.readerIndex, length: n)!))), promise: nil)
                onDownload(n)
                remaining -= n
            }
            if remaining == 0 {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            // Wait for the socket to drain: the backend itself never buffers more than the watermark.
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let left = remaining
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: 0, length: 0)!)))).whenComplete { _ in
                let (handler, context) = loopBound.value
                guard context.channel.isActive else { return }
                handler.streamDownload(context: context, remaining: left, chunk: chunk)
            }
        }

        private func send(context: ChannelHandlerContext, head: HTTPRequestHead, text: String, status: HTTPResponseStatus = .ok) {
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "text/plain")
            headers.add(name: "content-length", value: String(text.utf8.count))
            headers.add(name: "x-backend", value: name)
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// The lines of a TestBackend echo body as a dictionary (`backend`, `method`, `uri`, `h:<name>`).
func echoFields(_ body: String) -> [String: String] {
    var out: [String: String] = [:]
    for line in body.split(separator: "\n") {
        guard let eq = line.firstIndex(of: "=") else { continue }
        let key = String(line[..<eq])
        let value = String(line[line.index(after: eq)...])
        out[key] = out[key].map { $0 + ", " + value } ?? value
    }
    return out
}
