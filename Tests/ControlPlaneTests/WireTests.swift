import ControlPlane
import Foundation
import LabelConfig
import NIOCore
import RouteModel
import Testing

/// The channel's bytes: canonical snapshots and their versions, frames and their limits.
struct WireTests {
    static func inputs(order: [Int] = [0, 1, 2]) -> BuildInputs {
        let services = [
            ServiceDescription(name: "a", labels: ["com.docker.lb.hosts": "a.test", "com.docker.lb.port": "80", "x": "1"],
                               endpoints: [.init(host: "10.0.0.2", port: nil), .init(host: "10.0.0.1", port: nil)]),
            ServiceDescription(name: "b", labels: ["com.docker.lb.hosts": "b.test", "com.docker.lb.port": "80x"], endpoints: []),
            ServiceDescription(name: "c", labels: ["com.docker.lb.hosts": "c.test", "com.docker.lb.port": "8080",
                                                   "com.docker.lb.ssl_cert": "c.crt", "com.docker.lb.ssl_key": "c.key"],
                               endpoints: [.init(host: "10.0.0.3", port: 9000)]),
        ]
        let certificate = TLSCertificate(name: "c.crt+c.key", certificatePEM: "CHAIN", privateKeyPEM: "KEY",
                                         notValidAfter: 2_000_000_000, dnsNames: ["c.test"])
        return BuildInputs(serviceCluster: "", settings: ProxySettings(readTimeout: .milliseconds(1500)),
                           services: order.map { services[$0] },
                           certificates: [CertificateNames(certificate: "c.crt", key: "c.key"): CertificateLoad(certificate: certificate, problem: nil),
                                          CertificateNames(certificate: "x", key: "y"): CertificateLoad(certificate: nil, problem: "cannot read x")],
                           providerIssues: [RouteIssue(.error, service: "d", key: "com.docker.lb.network", value: "n", reason: "not on n")],
                           rejected: ["d": "network issue"])
    }

    @Test("equal inputs listed in any order encode to the same bytes and version; a change changes the version")
    func canonical() throws {
        let (first, version) = SnapshotCodec.encode(Self.inputs(order: [0, 1, 2]))
        let (second, again) = SnapshotCodec.encode(Self.inputs(order: [2, 0, 1]))
        #expect(first == second)
        #expect(version == again)
        #expect(version.hasPrefix("1-") && version.count == 34)
        var changed = Self.inputs()
        changed.services[0].endpoints.append(.init(host: "10.0.0.9", port: nil))
        #expect(SnapshotCodec.encode(changed).version != version)
    }

    @Test("a snapshot decodes to inputs that compile to the same table, settings and certificates included")
    func roundTrip() throws {
        let inputs = Self.inputs()
        let (payload, version) = SnapshotCodec.encode(inputs)
        let decoded = try SnapshotCodec.decode(payload, version: version)
        #expect(decoded == BuildInputs(serviceCluster: inputs.serviceCluster, settings: inputs.settings,
                                       services: inputs.services.map { var s = $0; s.endpoints.sort { $0.description < $1.description }; return s },
                                       certificates: inputs.certificates, defaultCertificate: nil,
                                       providerIssues: inputs.providerIssues, rejected: inputs.rejected))
        #expect(RouteTableBuilder.build(decoded).table.content == RouteTableBuilder.build(inputs).table.content)
        #expect(decoded.settings.readTimeout == .milliseconds(1500))
    }

    @Test("a payload whose hash is not its version, that does not decode, or of another schema is refused")
    func refused() throws {
        let (payload, version) = SnapshotCodec.encode(Self.inputs())
        var tampered = payload
        tampered[tampered.startIndex + 10] ^= 0x01
        #expect(throws: SnapshotError.self) { try SnapshotCodec.decode(tampered, version: version) }
        let garbage = Data("{}".utf8)
        #expect(throws: SnapshotError.self) { try SnapshotCodec.decode(garbage, version: SnapshotCodec.version(of: garbage)) }
        let future = Data(String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "\"schema\":1", with: "\"schema\":2").utf8)
        let error = #expect(throws: SnapshotError.self) { try SnapshotCodec.decode(future, version: SnapshotCodec.version(of: future)) }
        #expect(error?.description.contains("schema 2") == true)
    }

    static let messages: [ControlMessage] = [
        .hello(.init(name: "pier_proxy.1.x", node: "w1", pier: "pier 1", have: nil)),
        .welcome(.init(controller: "pier_controller.1.y", node: "m1", pier: "pier 1")),
        .snapshot(version: "1-abc", payload: Data("{\"a\":\n1}".utf8)),
        .unchanged(version: "1-abc"), .ack(version: "1-abc", issues: 2), .nack(version: "1-abc", reason: "why"),
        .heartbeat(version: nil), .heartbeat(version: "1-abc"), .goodbye(reason: "stopping"),
    ]

    @Test("every message survives framing, whole or cut at any byte")
    func frames() throws {
        var all = ByteBuffer()
        for message in Self.messages { message.write(to: &all) }
        for cut in 0...all.readableBytes {
            var reader = ControlFrameReader(limit: 1024)
            var received: [ControlMessage] = []
            reader.append(all.getSlice(at: 0, length: cut)!)
            while let message = try reader.next() { received.append(message) }
            reader.append(all.getSlice(at: cut, length: all.readableBytes - cut)!)
            while let message = try reader.next() { received.append(message) }
            #expect(received == Self.messages, "cut at \(cut)")
        }
    }

    @Test("a frame longer than the limit is refused from its header, before its bytes arrive; unknown kinds are refused")
    func limits() throws {
        var reader = ControlFrameReader(limit: 100)
        var header = ByteBuffer()
        header.writeInteger(UInt8(3))
        header.writeInteger(UInt32(101))
        reader.append(header)
        #expect(throws: ControlFrameError.tooLarge(length: 101, limit: 100)) { try reader.next() }
        var unknown = ControlFrameReader(limit: 100)
        var frame = ByteBuffer()
        frame.writeInteger(UInt8(99))
        frame.writeInteger(UInt32(0))
        unknown.append(frame)
        #expect(throws: ControlFrameError.self) { try unknown.next() }
    }
}
