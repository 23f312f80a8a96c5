import NIOCore
import NIOEmbedded
import RouteModel
import Testing

@testable import ProxyCore

/// What the HTTPS classifier counts into its loop's metrics: one handshake result per connection, and
/// passthrough relays as tunnels of their service.
extension HTTPSClassifierHandlerTests {
    func handshakes(_ harness: Harness) -> [DataPlaneSnapshot.TLSResult: UInt64] {
        var snapshot = DataPlaneSnapshot()
        snapshot.add(harness.loop.metrics!)
        return snapshot.tlsHandshakes
    }

    @Test("handshake results, once per connection: no certificate, timeout, a garbled ClientHello")
    func handshakeResults() throws {
        let refused = try Harness(table: Self.table(TLSTable()))
        try refused.channel.writeInbound(refused.channel.allocator.buffer(bytes: try Self.clientHello(serverName: "unknown.test")))
        refused.channel.embeddedEventLoop.run()
        #expect(!refused.channel.isActive)
        #expect(handshakes(refused) == [.noCertificate: 1])

        let slow = try Harness(table: Self.table(TLSTable()))
        try slow.channel.writeInbound(slow.channel.allocator.buffer(bytes: Array(try Self.clientHello(serverName: "a.test").prefix(20))))
        slow.channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(!slow.channel.isActive)
        #expect(handshakes(slow) == [.timeout: 1])

        let garbled = try Harness(table: Self.table(TLSTable()))
        try garbled.channel.writeInbound(garbled.channel.allocator.buffer(bytes: [0x16, 0x03, 0x01, 0xFF, 0xFF, 0x01, 0x00, 0xFF, 0xFB]))
        for _ in 0..<5 where garbled.channel.isActive {
            _ = try? garbled.channel.writeInbound(garbled.channel.allocator.buffer(bytes: [UInt8](repeating: 0, count: 4096)))
        }
        garbled.channel.embeddedEventLoop.run()
        #expect(!garbled.channel.isActive)
        #expect(handshakes(garbled) == [.failed: 1])
    }

    @Test("a passthrough relay is a tunnel of its service while open, and no handshake")
    func passthroughTunnel() throws {
        let pool = BackendPool(id: 0, services: ["vault"], endpoints: [Endpoint(host: "10.0.0.9", port: 443)])
        let harness = try Harness(table: Self.table(TLSTable(entries: [.exact("vault.test"): .passthrough(pool: 0, proxyProtocol: nil)]), pools: [pool]))
        try harness.channel.writeInbound(harness.channel.allocator.buffer(bytes: try Self.clientHello(serverName: "vault.test")))
        harness.channel.embeddedEventLoop.run()
        #expect(harness.loop.metrics?.services["vault"]?.passthroughTunnels == 1)
        try harness.upstream.close().wait()
        harness.channel.embeddedEventLoop.run()
        #expect(harness.loop.metrics?.services["vault"]?.passthroughOpened == 1)
        #expect(harness.loop.metrics?.services["vault"]?.passthroughTunnels == 0)
        #expect(handshakes(harness).isEmpty)
    }
}
