import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A TLS server with its own certificate that echoes every byte (a passthrough backend). When
/// `expectProxyHeader` is set it first reads a PROXY protocol header (v1 line or v2 block) and records it.
final class TLSEchoBackend: Sendable {
    let channel: Channel
    let port: Int
    private let headers: NIOLockedValueBox<[[UInt8]]>

    /// The PROXY headers received so far, one per connection.
    var proxyHeaders: [[UInt8]] { headers.withLockedValue { $0 } }

    private init(channel: Channel, port: Int, headers: NIOLockedValueBox<[[UInt8]]>) {
        self.channel = channel
        self.port = port
        self.headers = headers
    }

    static func start(certificate: String, key: String, expectProxyHeader: Bool) async throws -> TLSEchoBackend {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate)
        let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        let context = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey)))
        let recorder = NIOLockedValueBox<[[UInt8]]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if expectProxyHeader {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ProxyHeaderReader { header in
                            recorder.withLockedValue { $0.append(header) }
                        }))
                    }
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TLSEchoBackend(channel: channel, port: channel.localAddress!.port!, headers: recorder)
    }

    func stop() async {
        try? await channel.close()
    }

    /// Echoes what it reads; closes when the peer does.
    private final class Echo: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.write(data, promise: nil)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            context.flush()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }

    /// Reads one PROXY header, hands it over, then passes every later byte on.
    private final class ProxyHeaderReader: ByteToMessageDecoder {
        typealias InboundOut = ByteBuffer
        private let onHeader: (([UInt8]) -> Void)
        private var done = false

        init(onHeader: @escaping ([UInt8]) -> Void) {
            self.onHeader = onHeader
        }

        func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
            if done {
                guard buffer.readableBytes > 0 else { return .needMoreData }
                context.fireChannelRead(NIOAny(buffer.readSlice(length: buffer.readableBytes)!))
                return .continue
            }
            let bytes = Array(buffer.readableBytesView)
            if bytes.starts(with: Array("PROXY ".utf8)) {
                guard let end = bytes.firstIndex(of: 0x0A) else { return .needMoreData }
                onHeader(Array(bytes[...end]))
                buffer.moveReaderIndex(forwardBy: end + 1)
            } else {
                guard bytes.count >= 16 else { return .needMoreData }
                let length = 16 + Int(bytes[14]) << 8 + Int(bytes[15])
                guard bytes.count >= length else { return .needMoreData }
                onHeader(Array(bytes[..<length]))
                buffer.moveReaderIndex(forwardBy: length)
            }
            done = true
            return .continue
        }
    }
}
