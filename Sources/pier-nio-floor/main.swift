// The floor under Pier's HTTP/1.1 data plane, for the benchmark harness only (bench/run, "NIO floor" rows).
//
// The thinnest HTTP/1.1 reverse proxy that SwiftNIO's typed HTTP handlers allow, on one event loop: NIO's
// server pipeline downstream (decoder and encoder), NIO's client handlers upstream, keep-alive connections
// to one upstream pooled per loop, each part passed on as it is. No routing, no header edits, no timers, no
// limits, no logs: nothing Pier adds. What it costs per request is what any proxy built on these libraries
// pays before doing any work of its own, so Pier's distance to nginx splits into "the libraries' floor" and
// "Pier's own work" (see bench/PROFILE.md). Not a product: it trusts its upstream and handles no errors
// beyond closing.
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import NIOTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Options {
    var listen = 0
    var upstreamHost = "127.0.0.1"
    var upstreamPort = 0
    var threads = 1
    var tlsListen: Int?
    var certificate = ""
    var key = ""

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            let value = iterator.next() ?? ""
            switch argument {
            case "--listen": listen = Int(value) ?? 0
            case "--upstream":
                let parts = value.split(separator: ":")
                upstreamHost = String(parts.first ?? "127.0.0.1")
                upstreamPort = Int(parts.last ?? "") ?? 0
            case "--threads": threads = Int(value) ?? 1
            case "--tls-listen": tlsListen = Int(value)
            case "--cert": certificate = value
            case "--key": key = value
            default:
                print("usage: pier-nio-floor --listen PORT --upstream HOST:PORT [--threads N] [--tls-listen PORT --cert PEM --key PEM]")
                exit(2)
            }
        }
    }
}

/// Idle upstream connections of one event loop.
final class Pool {
    let loop: EventLoop
    let address: SocketAddress
    var idle: [Upstream] = []

    init(loop: EventLoop, address: SocketAddress) {
        self.loop = loop
        self.address = address
    }

    func acquire(_ onReady: @escaping (Upstream?) -> Void) {
        while let upstream = idle.popLast() {
            if upstream.channel.isActive { return onReady(upstream) }
        }
        ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        enableOutboundHeaderValidation: false, encoderConfiguration: requestEncoder)
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler())
                }
            }
            .connect(to: address)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    let handler = try! channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                    onReady(Upstream(channel: channel, handler: handler))
                case .failure:
                    onReady(nil)
                }
            }
    }
}

final class Upstream {
    let channel: Channel
    let handler: UpstreamHandler
    init(channel: Channel, handler: UpstreamHandler) {
        self.channel = channel
        self.handler = handler
    }
}

final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    var downstream: ProxyHandler?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        downstream?.upstreamRead(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        downstream?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        downstream?.context?.close(promise: nil)
        downstream = nil
    }
}

final class ProxyHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let pool: Pool
    var context: ChannelHandlerContext?
    var upstream: Upstream?
    var buffered: [HTTPClientRequestPart] = []
    var keepAlive = true
    /// Behind NIO's HTTP/2 → HTTP/1 codec (one handler per stream).
    let http2: Bool

    init(pool: Pool, http2: Bool = false) {
        self.pool = pool
        self.http2 = http2
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // The one edit every proxy must make: `Connection` is hop-by-hop (a client's `close` is not the
            // upstream connection's business).
            keepAlive = http2 || head.isKeepAlive
            var headers = head.headers
            if !keepAlive { headers.remove(name: "connection") }
            let upstreamHead = HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: headers)
            buffered.append(.head(upstreamHead))
            pool.acquire { [self] upstream in
                guard let upstream else { return self.context?.close(promise: nil) ?? () }
                self.upstream = upstream
                upstream.handler.downstream = self
                for part in buffered { upstream.channel.write(part, promise: nil) }
                buffered.removeAll()
                upstream.channel.flush()
            }
        case .body(let buffer):
            if let upstream { upstream.channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil) } else { buffered.append(.body(.byteBuffer(buffer))) }
        case .end(let trailers):
            if let upstream { upstream.channel.writeAndFlush(HTTPClientRequestPart.end(trailers), promise: nil) } else { buffered.append(.end(trailers)) }
        }
    }

    func upstreamRead(_ part: HTTPClientResponsePart) {
        guard let context else { return }
        switch part {
        case .head(let head):
            var headers = head.headers
            if http2 {
                // HTTP/2 has no connection-specific headers (its codec refuses them).
                headers.remove(name: "connection")
                headers.remove(name: "keep-alive")
            } else if !keepAlive {
                headers.replaceOrAdd(name: "connection", value: "close")
            }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: http2 ? .http2 : .http1_1, status: head.status, headers: headers))), promise: nil)
        case .body(let buffer):
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        case .end(let trailers):
            if let upstream {
                upstream.handler.downstream = nil
                pool.idle.append(upstream)
                self.upstream = nil
            }
            if keepAlive {
                context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
            } else {
                context.writeAndFlush(wrapOutboundOut(.end(trailers))).assumeIsolated().whenComplete { [context] _ in
                    context.close(promise: nil)
                }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let upstream {
            upstream.handler.downstream = nil
            upstream.channel.close(promise: nil)
            self.upstream = nil
        }
    }
}

// The same NIO settings as Pier's pipelines: no outbound header validation, no framing pass by the encoders
// (heads are passed on as the upstream framed them).
let requestEncoder: HTTPRequestEncoder.Configuration = {
    var configuration = HTTPRequestEncoder.Configuration()
    configuration.automaticallySetFramingHeaders = false
    return configuration
}()
let responseEncoder: HTTPResponseEncoder.Configuration = {
    var configuration = HTTPResponseEncoder.Configuration()
    configuration.automaticallySetFramingHeaders = false
    return configuration
}()

/// One pool per event loop, looked up by the loop (read-only once built).
struct Pools: @unchecked Sendable {
    var byLoop: [ObjectIdentifier: Pool] = [:]
}

/// Pier's listening socket options for both listeners.
func listener(_ group: EventLoopGroup) -> ServerBootstrap {
    ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .serverChannelOption(.tcpOption(.tcp_nodelay), value: 1)
}

/// Pier's client socket options, set in place in the child initializer as Pier does (NIO's
/// `childChannelOption`s cost a future and closures per option and connection); TCP_NODELAY is inherited
/// from the listening socket, as in Pier.
func configureClientSocket(_ channel: Channel) throws {
    guard let options = channel.syncOptions else { return }
    try options.setOption(.maxMessagesPerRead, value: 16)
    // Pier's receive buffers: a small first read, grown as needed (scenario e).
    try options.setOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
}

func serve(_ options: Options) throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
    let upstreamAddress = try SocketAddress(ipAddress: options.upstreamHost, port: options.upstreamPort)
    var pools = Pools()
    for loop in group.makeIterator() { pools.byLoop[ObjectIdentifier(loop)] = Pool(loop: loop, address: upstreamAddress) }
    let allPools = pools
    let server = try listener(group)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try configureClientSocket(channel)
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: responseEncoder)
            try channel.pipeline.syncOperations.addHandler(ProxyHandler(pool: allPools.byLoop[ObjectIdentifier(channel.eventLoop)]!))
        }
    }
    .bind(host: "127.0.0.1", port: options.listen)
    .wait()
    print("pier-nio-floor listening on \(server.localAddress!), upstream \(upstreamAddress)")
    if let tlsPort = options.tlsListen {
        let tls = try tlsServer(options, group: group, pools: allPools, port: tlsPort)
        print("pier-nio-floor listening on \(tls.localAddress!) (TLS: HTTP/2 and HTTP/1.1 by ALPN)")
    }
    fflush(nil)  // every output stream: stdout goes to a log file in bench/run
    try server.closeFuture.wait()
}

/// The TLS listener of scenarios (h) and (i): NIOSSL, ALPN, then NIO's HTTP/2 handler with its HTTP/2 → HTTP/1
/// codec per stream (h2) or NIO's HTTP/1.1 pipeline — the handlers Pier uses, with NIO's default HTTP/2 settings.
func tlsServer(_ options: Options, group: EventLoopGroup, pools: Pools, port: Int) throws -> Channel {
    var configuration = TLSConfiguration.makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMFile(options.certificate).map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(file: options.key, format: .pem)))
    configuration.minimumTLSVersion = .tlsv12
    configuration.applicationProtocols = ["h2", "http/1.1"]
    let context = try NIOSSLContext(configuration: configuration)
    return try listener(group)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try configureClientSocket(channel)
                let pool = pools.byLoop[ObjectIdentifier(channel.eventLoop)]!
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                try channel.pipeline.syncOperations.addHandler(ApplicationProtocolNegotiationHandler { result in
                    channel.eventLoop.makeCompletedFuture {
                        if case .negotiated("h2") = result {
                            _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                                mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
                            ) { stream in
                                stream.eventLoop.makeCompletedFuture {
                                    try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                                    try stream.pipeline.syncOperations.addHandler(
                                        ProxyHandler(pool: pools.byLoop[ObjectIdentifier(stream.eventLoop)]!, http2: true))
                                }
                            }
                        } else {
                            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                                withEncoderConfiguration: responseEncoder)
                            try channel.pipeline.syncOperations.addHandler(ProxyHandler(pool: pool))
                        }
                    }
                })
            }
        }
        .bind(host: "127.0.0.1", port: port)
        .wait()
}

try serve(Options(CommandLine.arguments))
