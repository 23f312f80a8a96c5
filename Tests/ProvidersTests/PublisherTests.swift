import LabelConfig
import TestSupport
import Publishing
import RouteModel
import Synchronization
import Testing

/// The one publish path: what is new, generations, issue deltas, statuses, subscribers.
struct PublisherTests {
    static func service(_ name: String, _ labels: [String: String], endpoints: [String] = ["10.0.0.1:80"]) -> ServiceDescription {
        ServiceDescription(name: name, labels: labels, endpoints: endpoints.compactMap(ServiceDescription.Address.init(parsing:)))
    }

    static func build(_ services: [ServiceDescription], version: String? = nil) -> Build {
        Build(inputs: BuildInputs(services: services), version: version)
    }

    static let app = service("app", ["com.docker.lb.hosts": "app.test", "com.docker.lb.port": "80"])
    static let broken = service("broken", ["com.docker.lb.hosts": "b.test", "com.docker.lb.port": "80x"])

    @Test("the first build is published as generation 1 even when it routes nothing; an equal table is not published again")
    func firstAndUnchanged() {
        let (logger, lines) = RecordingLogHandler.logger()
        let publisher = Publisher(logger: logger)
        let empty = publisher.publish(Self.build([]))
        #expect(empty?.generation == 1)
        #expect(empty?.table.generation == 1)
        #expect(lines.count("routes loaded") == 1)
        let app = publisher.publish(Self.build([Self.app]))
        #expect(app?.generation == 2)
        #expect(lines.count("routes updated") == 1)
        #expect(lines.all.contains { $0.contains("routes updated") && $0.contains("change=+app.test") })
        // Same services in another order, another version: the same table.
        #expect(publisher.publish(Self.build([Self.app], version: "1-b")) == nil)
        #expect(publisher.latest?.generation == 2)
        #expect(publisher.latest?.version == "1-b")
        #expect(publisher.latestVersion == "1-b")
    }

    @Test("subscribers get the latest publication at once, then each new one in generation order")
    func subscribers() {
        let publisher = Publisher(logger: RecordingLogHandler.logger().0)
        publisher.publish(Self.build([]))
        let seen = Mutex<[UInt64]>([])
        publisher.subscribe { publication in seen.withLock { $0.append(publication.generation) } }
        publisher.publish(Self.build([Self.app]))
        publisher.publish(Self.build([Self.app]))
        publisher.publish(Self.build([]))
        #expect(seen.withLock { $0 } == [1, 2, 3])
    }

    @Test("issues are logged when they appear and said resolved when they go, not at every build")
    func issueDeltas() {
        let (logger, lines) = RecordingLogHandler.logger()
        let publisher = Publisher(logger: logger)
        publisher.publish(Self.build([Self.app, Self.broken]))
        publisher.publish(Self.build([Self.app, Self.broken]))
        #expect(lines.count("com.docker.lb.port=\"80x\"") == 1)
        #expect(publisher.latest?.issues.count == 1)
        #expect(publisher.latest?.statuses.first { $0.service == "broken" }?.state == .rejected)
        publisher.publish(Self.build([Self.app]))
        #expect(lines.all.contains { $0.contains("resolved:") && $0.contains("80x") })
        #expect(publisher.latest?.issues.isEmpty == true)
    }

    @Test("statuses are logged when they change")
    func statusChanges() {
        let (logger, lines) = RecordingLogHandler.logger()
        let publisher = Publisher(logger: logger)
        publisher.publish(Self.build([Self.app]))
        publisher.publish(Self.build([Self.app, Self.service("other", ["com.docker.lb.hosts": "o.test", "com.docker.lb.port": "80"])]))
        #expect(lines.count("app: routed, 1 endpoint") == 1)
        #expect(lines.count("other: routed, 1 endpoint") == 1)
    }

    @Test("inputs built locally reproduce the same table when compiled elsewhere, certificates included")
    func inputsReproduceTheTable() {
        let certificate = TLSCertificate(name: "c", certificatePEM: "CERT", privateKeyPEM: "KEY", dnsNames: ["s.test"])
        let names = CertificateNames(certificate: "c", key: "k")
        let source = StaticCertificateSource([names: certificate])
        let secure = Self.service("secure", ["com.docker.lb.hosts": "s.test", "com.docker.lb.port": "80",
                                             "com.docker.lb.ssl_cert": "c", "com.docker.lb.ssl_key": "k"])
        let (inputs, local) = RouteTableBuilder(certificates: source).buildWithInputs([secure, Self.app])
        #expect(inputs.certificates[names]?.certificate == certificate)
        let remote = RouteTableBuilder.build(inputs)
        #expect(remote.table.content == local.table.content)
        #expect(remote.statuses == local.statuses)
        // Without the loads the controller made, the certificate is missing.
        var stripped = inputs
        stripped.certificates = [:]
        #expect(RouteTableBuilder.build(stripped).table.content != local.table.content)
    }

    @Test("backoff doubles to its maximum with jitter in [base/2, base], and resets")
    func backoff() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(400))
        #expect(backoff.next(random: { 0 }) == .milliseconds(50))
        #expect(backoff.next(random: { 0.999999 }) <= .milliseconds(200))
        #expect(backoff.next(random: { 0.5 }) == .milliseconds(300))
        #expect(backoff.next(random: { 0 }) == .milliseconds(200))
        backoff.reset()
        #expect(backoff.next(random: { 0 }) == .milliseconds(50))
    }
}
