import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import ProxyCore

/// The options of accepted client sockets, set in place by the child initializer (`configureClientSocket`)
/// rather than by NIO's `childChannelOption`s: read back from a real accepted socket.
struct ClientSocketOptionsTests {
    struct Seen: Sendable, Equatable {
        var noDelay: ChannelOptions.Types.SocketOption.Value
        var messagesPerRead: UInt
        /// The receive allocator's first read, when it is NIO's adaptive one.
        var firstRead: Int?
    }

    /// What a socket accepted by a listener set up as Pier's (`listenerOptions`), or with TCP_NODELAY off on
    /// the listener (`listenerNoDelay: false`), has once Pier's child initializer has run.
    static func accept(recvAllocator: AdaptiveRecvByteBufferAllocator?, listenerNoDelay: Bool = true) async throws -> Seen {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let seen = NIOLockedValueBox<Seen?>(nil)
        var bootstrap = ProxyServer.listenerOptions(ServerBootstrap(group: group))
        if !listenerNoDelay { bootstrap = bootstrap.serverChannelOption(.tcpOption(.tcp_nodelay), value: 0) }
        let server = try await bootstrap
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ProxyServer.configureClientSocket(channel, recvAllocator: recvAllocator)
                    let options = channel.syncOptions!
                    seen.withLockedValue {
                        $0 = Seen(noDelay: try! options.getOption(.tcpOption(.tcp_nodelay)),
                                  messagesPerRead: try! options.getOption(.maxMessagesPerRead),
                                  firstRead: (try! options.getOption(.recvAllocator) as? AdaptiveRecvByteBufferAllocator)?.initial)
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let client = try await ClientBootstrap(group: group).connect(to: server.localAddress!).get()
        let deadline = ContinuousClock.now + .seconds(5)
        while seen.withLockedValue({ $0 }) == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        try await client.close()
        try await server.close()
        try await group.shutdownGracefully()
        return try #require(seen.withLockedValue { $0 })
    }

    @Test("an accepted socket has TCP_NODELAY, 16 reads per wake-up and, on the HTTP entrypoint, Pier's small first read")
    func optionsAreSet() async throws {
        let http = try await Self.accept(recvAllocator: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
        #expect(http.noDelay != 0)
        #expect(http.messagesPerRead == 16)
        #expect(http.firstRead == 256)
        let https = try await Self.accept(recvAllocator: nil)
        #expect(https.noDelay != 0)
        #expect(https.messagesPerRead == 16)
        // TLS keeps NIO's default first read (2 KiB): a ClientHello does not fit in 256 bytes.
        #expect(https.firstRead == 2048)
    }

    @Test("TCP_NODELAY comes from the listening socket: with it off there, an accepted socket does not have it")
    func noDelayIsInherited() async throws {
        let off = try await Self.accept(recvAllocator: nil, listenerNoDelay: false)
        #expect(off.noDelay == 0)
    }
}
