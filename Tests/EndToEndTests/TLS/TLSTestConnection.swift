import NIOCore
import NIOPosix
import NIOSSL

/// A test's TLS client connection to 127.0.0.1:`port`: SNI `serverName`, trusting only the certificates in
/// `caPath`, offering `alpn`. `handlers` adds what sits above TLS; it runs on the channel's event loop.
func connectTLS(port: Int, serverName: String, caPath: String, alpn: [String] = [],
                handlers: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void) async throws -> Channel {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.trustRoots = .file(caPath)
    configuration.applicationProtocols = alpn
    let context = try NIOSSLContext(configuration: configuration)
    return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connectTimeout(.seconds(5))
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
                try handlers(channel.pipeline.syncOperations)
            }
        }
        .connect(host: "127.0.0.1", port: port).get()
}
