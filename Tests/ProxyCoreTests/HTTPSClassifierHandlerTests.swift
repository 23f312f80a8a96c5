import Logging
import NIOCore
import NIOEmbedded
import NIOSSL
import RouteModel
import TestSupport
import Testing

@testable import ProxyCore

@Suite("HTTPS classifier (EmbeddedChannel)")
struct HTTPSClassifierHandlerTests {
    /// A real ClientHello for `serverName`, as swift-nio-ssl's client writes it.
    static func clientHello(serverName: String?) throws -> [UInt8] {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        let context = try NIOSSLContext(configuration: configuration)
        let client = EmbeddedChannel()
        try client.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        var bytes: [UInt8] = []
        while let buffer = try client.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        _ = try? client.finish()
        return bytes
    }

    static func table(_ tls: TLSTable, pools: [BackendPool] = []) -> RouteTable {
        RouteTable(generation: 1, content: .init(routes: [], pools: pools, defaultRoute: nil, settings: ProxySettings(accessLog: false), tls: tls))
    }

    /// A downstream channel with the classifier; passthrough connections go to `upstream`.
    final class Harness {
        let channel = EmbeddedChannel()
        let upstream: EmbeddedChannel
        var connected: [Endpoint] = []
        let loop: LoopState

        /// What the classifier logged (at debug and above).
        let log: RecordingLogHandler.Lines

        init(table: RouteTable) throws {
            upstream = EmbeddedChannel(loop: channel.embeddedEventLoop)
            loop = LoopState(eventLoop: channel.eventLoop, metrics: true)
            let (logger, log) = RecordingLogHandler.logger()
            self.log = log
            let handler = HTTPSClassifierHandler(
                tables: RouteTableBox(table), loop: loop, contexts: TLSContextStore(), accessLogger: Logger(label: "test"),
                logger: logger, httpsPort: 8443
            ) { [upstream] endpoint, loop, _ in
                self.connected.append(endpoint)
                try! upstream.connect(to: SocketAddress(ipAddress: endpoint.host, port: endpoint.port)).wait()
                return loop.makeSucceededFuture(upstream)
            }
            channel.localAddress = try SocketAddress(ipAddress: "198.51.100.1", port: 8443)
            try channel.connect(to: SocketAddress(ipAddress: "192.0.2.7", port: 50000)).wait()
            try channel.pipeline.syncOperations.addHandler(handler)
        }

        /// Everything `channel` (the downstream) wrote.
        func downstreamOutput() throws -> [UInt8] {
            var bytes: [UInt8] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
            return bytes
        }

        func upstreamOutput() throws -> [UInt8] {
            var bytes: [UInt8] = []
            while let buffer = try upstream.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
            return bytes
        }
    }

    @Test("a passthrough ClientHello drip-fed one byte at a time still routes: PROXY header, then the exact bytes, both ways")
    func dripFedPassthrough() throws {
        let pool = BackendPool(id: 0, services: ["vault"], endpoints: [Endpoint(host: "10.0.0.9", port: 443)])
        let harness = try Harness(table: Self.table(TLSTable(entries: [.exact("vault.test"): .passthrough(pool: 0, proxyProtocol: .v1)]), pools: [pool]))
        let hello = try Self.clientHello(serverName: "vault.test")
        #expect(hello.count > 100)
        for (i, byte) in hello.enumerated() {
            try harness.channel.writeInbound(harness.channel.allocator.buffer(bytes: [byte]))
            if i < hello.count - 1 { #expect(harness.connected.isEmpty, "classified before the ClientHello was complete (byte \(i))") }
        }
        harness.channel.embeddedEventLoop.run()
        #expect(harness.connected == [Endpoint(host: "10.0.0.9", port: 443)])
        let header = Array("PROXY TCP4 192.0.2.7 198.51.100.1 50000 8443\r\n".utf8)
        #expect(try harness.upstreamOutput() == header + hello)
        // The backend's answer reaches the client unchanged, and later client bytes reach the backend.
        try harness.upstream.writeInbound(harness.upstream.allocator.buffer(bytes: [0x16, 0x03, 0x03, 0x00, 0x01, 0x02]))
        #expect(try harness.downstreamOutput() == [0x16, 0x03, 0x03, 0x00, 0x01, 0x02])
        try harness.channel.writeInbound(harness.channel.allocator.buffer(bytes: [1, 2, 3]))
        #expect(try harness.upstreamOutput() == [1, 2, 3])
        // The classifier and NIO's SNI handler are gone: only the relay is left.
        #expect((try? harness.channel.pipeline.syncOperations.handler(type: HTTPSClassifierHandler.self)) == nil)
    }

    @Test("a client that leaves while Pier connects to the passthrough endpoint leaves no upstream connection behind")
    func clientLeavesDuringConnect() throws {
        let channel = EmbeddedChannel()
        let upstream = EmbeddedChannel(loop: channel.embeddedEventLoop)
        let pending = channel.eventLoop.makePromise(of: Channel.self)
        let pool = BackendPool(id: 0, services: ["vault"], endpoints: [Endpoint(host: "10.0.0.9", port: 443)])
        let table = Self.table(TLSTable(entries: [.exact("vault.test"): .passthrough(pool: 0, proxyProtocol: nil)]), pools: [pool])
        let handler = HTTPSClassifierHandler(
            tables: RouteTableBox(table), loop: LoopState(eventLoop: channel.eventLoop), contexts: TLSContextStore(),
            accessLogger: Logger(label: "test"), logger: Logger(label: "test"), httpsPort: 8443
        ) { _, _, _ in pending.futureResult }
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.7", port: 50000)).wait()
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.writeInbound(channel.allocator.buffer(bytes: try Self.clientHello(serverName: "vault.test")))
        channel.embeddedEventLoop.run()
        _ = try? channel.close().wait()
        try upstream.connect(to: SocketAddress(ipAddress: "10.0.0.9", port: 443)).wait()
        pending.succeed(upstream)
        channel.embeddedEventLoop.run()
        #expect(!upstream.isActive)
    }

    @Test("an unknown name without a default certificate gets a fatal unrecognized_name alert and the connection closes")
    func unknownNameAlert() throws {
        let harness = try Harness(table: Self.table(TLSTable()))
        for byte in try Self.clientHello(serverName: "nobody.test") {
            try harness.channel.writeInbound(harness.channel.allocator.buffer(bytes: [byte]))
        }
        harness.channel.embeddedEventLoop.run()
        #expect(try harness.downstreamOutput() == [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70])
        #expect(!harness.channel.isActive)
        #expect(harness.connected.isEmpty)
        #expect(harness.log.count("cause=downstream.tls_no_certificate client=192.0.2.7 sni=nobody.test") == 1, "\(harness.log.all)")
    }

    @Test("a ClientHello that does not arrive within the handshake timeout is cut off")
    func handshakeTimeout() throws {
        let harness = try Harness(table: Self.table(TLSTable()))
        let hello = try Self.clientHello(serverName: "slow.test")
        try harness.channel.writeInbound(harness.channel.allocator.buffer(bytes: Array(hello.prefix(20))))
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(harness.channel.isActive)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!harness.channel.isActive)
        #expect(harness.log.count("cause=downstream.tls_handshake_timeout") == 1, "\(harness.log.all)")
    }

    @Test("a ClientHello record larger than one TLS record may be is refused without buffering it")
    func oversized() throws {
        let harness = try Harness(table: Self.table(TLSTable()))
        // A handshake record header announcing 65,535 bytes, then more than the cap.
        try harness.channel.writeInbound(harness.channel.allocator.buffer(bytes: [0x16, 0x03, 0x01, 0xFF, 0xFF, 0x01, 0x00, 0xFF, 0xFB]))
        let junk = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<5 where harness.channel.isActive {
            _ = try? harness.channel.writeInbound(harness.channel.allocator.buffer(bytes: junk))
        }
        harness.channel.embeddedEventLoop.run()
        #expect(!harness.channel.isActive)
        #expect(harness.log.count("cause=downstream.tls_handshake_failed") == 1, "\(harness.log.all)")
    }

    @Test("a passthrough host whose service has no endpoint closes the connection, logged with the router's cause")
    func passthroughWithoutEndpoint() throws {
        let pool = BackendPool(id: 0, services: ["vault"], endpoints: [])
        let harness = try Harness(table: Self.table(TLSTable(entries: [.exact("vault.test"): .passthrough(pool: 0, proxyProtocol: nil)]), pools: [pool]))
        try harness.channel.writeInbound(harness.channel.allocator.buffer(bytes: try Self.clientHello(serverName: "vault.test")))
        harness.channel.embeddedEventLoop.run()
        #expect(!harness.channel.isActive)
        #expect(harness.connected.isEmpty)
        #expect(harness.log.count("passthrough: no endpoint reachable cause=router.no_endpoint service=vault") == 1, "\(harness.log.all)")
    }

    @Test("PROXY protocol headers: v1 text and v2 binary, IPv4 and IPv6")
    func proxyProtocol() throws {
        let client = try SocketAddress(ipAddress: "192.0.2.7", port: 50000)
        let pier = try SocketAddress(ipAddress: "198.51.100.1", port: 443)
        #expect(String(decoding: ProxyProtocolHeader.encode(.v1, source: client, destination: pier), as: UTF8.self)
            == "PROXY TCP4 192.0.2.7 198.51.100.1 50000 443\r\n")
        let client6 = try SocketAddress(ipAddress: "2001:db8::7", port: 50000)
        let pier6 = try SocketAddress(ipAddress: "2001:db8::1", port: 443)
        #expect(String(decoding: ProxyProtocolHeader.encode(.v1, source: client6, destination: pier6), as: UTF8.self)
            == "PROXY TCP6 2001:db8::7 2001:db8::1 50000 443\r\n")
        #expect(String(decoding: ProxyProtocolHeader.encode(.v1, source: client, destination: pier6), as: UTF8.self) == "PROXY UNKNOWN\r\n")
        let v2 = ProxyProtocolHeader.encode(.v2, source: client, destination: pier)
        #expect(v2 == [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 12,
                       192, 0, 2, 7, 198, 51, 100, 1, 0xC3, 0x50, 0x01, 0xBB])
        let v26 = ProxyProtocolHeader.encode(.v2, source: client6, destination: pier6)
        #expect(v26.count == 16 + 36)
        #expect(Array(v26[12..<16]) == [0x21, 0x21, 0x00, 36])
        #expect(Array(v26[16..<20]) == [0x20, 0x01, 0x0d, 0xb8])
        #expect(Array(ProxyProtocolHeader.encode(.v2, source: nil, destination: nil)[12..<16]) == [0x20, 0x00, 0x00, 0x00])
    }
}
