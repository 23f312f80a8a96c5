import FuzzSupport
import Logging
import NIOCore
import NIOEmbedded
import RouteModel

@testable import ProxyCore

/// The HTTPS entrypoint's classifier and its buffering (NIO's `SNIHandler` under `HTTPSClassifierHandler`):
/// arbitrary bytes, usually a mutated ClientHello, fed once in one write and once cut at arbitrary points,
/// through an `EmbeddedChannel` with a table that passes `vault.test` and `*.pass.test` through, terminates
/// `www.test` with an unusable certificate and refuses every other name.
///
/// Input: a byte for 0–7 cuts, two bytes per cut (a position, modulo the length), then what the client sends.
///
/// Invariant: the verdict does not depend on how the bytes were cut — the same passthrough endpoint, the same
/// bytes to it (PROXY header, then every byte of the client's, in order), the same bytes back to the client
/// (an alert or nothing), the same open or closed connection.
enum FuzzSNIClassifier: FuzzTarget {
    struct Verdict: Equatable {
        var connected: [Endpoint] = []
        var upstream: [UInt8] = []
        var downstream: [UInt8] = []
        var open = true
    }

    static let table: RouteTable = {
        let vault = BackendPool(id: 0, services: ["vault"], endpoints: [Endpoint(host: "10.0.0.9", port: 443)])
        let pass = BackendPool(id: 1, services: ["pass"], endpoints: [Endpoint(host: "10.0.0.10", port: 443)])
        let unusable = TLSCertificate(name: "www", certificatePEM: "not a certificate", privateKeyPEM: "not a key")
        let tls = TLSTable(entries: [
            .exact("vault.test"): .passthrough(pool: 0, proxyProtocol: .v1),
            .wildcard(suffix: "pass.test"): .passthrough(pool: 1, proxyProtocol: .v2),
            .exact("www.test"): .terminate(unusable),
        ])
        return RouteTable(generation: 1, content: .init(routes: [], pools: [vault, pass], defaultRoute: nil,
                                                        settings: ProxySettings(accessLog: false), tls: tls))
    }()

    static func run(_ input: inout FuzzInput) {
        let cuts = input.cuts(max: 7)
        let bytes = Array(input.rest)
        let whole = classify([bytes])
        let pieces = pieces(bytes, at: cuts)
        let split = classify(pieces)
        fuzzCheck(whole == split, "cut at \(cuts): \(whole) in one write, \(split) in \(pieces.count) pieces")
        // Drip-feeding costs one pipeline pass per byte: for one input in four, which is enough to find a
        // difference that only one-byte reads show.
        if cuts.count >= 6 { fuzzCheck(classify(bytes.map { [$0] }) == whole, "one byte at a time: another verdict") }
    }

    // Failed passthrough connects and refused handshakes log a warning per input otherwise.
    static let quiet = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    static func classify(_ pieces: [[UInt8]]) -> Verdict {
        let channel = EmbeddedChannel()
        let upstream = EmbeddedChannel(loop: channel.embeddedEventLoop)
        var verdict = Verdict()
        let handler = HTTPSClassifierHandler(
            tables: RouteTableBox(table), loop: LoopState(eventLoop: channel.eventLoop), contexts: TLSContextStore(),
            accessLogger: quiet, logger: quiet, httpsPort: 8443
        ) { endpoint, loop, _ in
            verdict.connected.append(endpoint)
            try! upstream.connect(to: SocketAddress(ipAddress: endpoint.host, port: endpoint.port)).wait()
            return loop.makeSucceededFuture(upstream)
        }
        channel.localAddress = try! SocketAddress(ipAddress: "198.51.100.1", port: 8443)
        try! channel.connect(to: SocketAddress(ipAddress: "192.0.2.7", port: 50000)).wait()
        try! channel.pipeline.syncOperations.addHandler(handler)
        for piece in pieces where channel.isActive {
            // A write the pipeline refuses (a garbled ClientHello) closes the connection: that is the verdict.
            _ = try? channel.writeInbound(channel.allocator.buffer(bytes: piece))
            channel.embeddedEventLoop.run()
        }
        while let buffer = try? upstream.readOutbound(as: ByteBuffer.self) { verdict.upstream += buffer.readableBytesView }
        while let buffer = try? channel.readOutbound(as: ByteBuffer.self) { verdict.downstream += buffer.readableBytesView }
        verdict.open = channel.isActive
        _ = try? channel.finish()
        _ = try? upstream.finish()
        return verdict
    }
}

#if PIER_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { FuzzSNIClassifier.fuzzOne(data, size) }
#else
@main extension FuzzSNIClassifier {}
#endif
