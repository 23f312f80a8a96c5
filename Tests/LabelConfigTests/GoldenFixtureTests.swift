import Foundation
import LabelConfig
import RouteModel
import Testing

/// Golden label fixtures: `Fixtures/NAME.json` holds services (and optionally requests to try);
/// `Fixtures/NAME.expected.txt` holds the expected route table, issues, statuses and decisions.
/// A new edge case is a new pair of files. Run with `PIER_UPDATE_FIXTURES=1` to (re)write the expected files
/// into the source tree, then read every changed line before committing it.
@Suite("Golden label fixtures")
struct GoldenFixtureTests {
    struct Case: Decodable {
        struct Service: Decodable {
            var name: String
            var labels: [String: String]
            /// `ip`, `ip:port`, `[v6]` or `[v6]:port`.
            var endpoints: [String]
        }

        struct Request: Decodable {
            /// nil: no Host header.
            var host: String?
            var target: String
            /// `http` (default) or `https`: the entrypoint the request arrives on.
            var scheme: String?
        }

        /// What the case is about, for people.
        var description: String
        /// The cluster the builder serves; "" when absent.
        var serviceCluster: String?
        var services: [Service]
        var requests: [Request]?
    }

    static var fixtures: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    }

    static func names() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? []
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(".json".count)) }.sorted()
    }

    /// The text a case produces: table, then issues, statuses and decisions, one per line.
    static func render(_ c: Case) throws -> String {
        let services = try c.services.map { s in
            ServiceDescription(name: s.name, labels: s.labels, endpoints: try s.endpoints.map { text in
                try #require(ServiceDescription.Address(parsing: text), "endpoint \(text) of \(s.name)")
            })
        }
        let result = RouteTableBuilder(serviceCluster: c.serviceCluster ?? "", certificates: NamedCertificates())
            .build(services, generation: 1)
        var out = RouteTablePrinter.render(result.table)
        out += "issues:\n"
        for issue in result.issues { out += "  \(issue)\n" }
        out += "statuses:\n"
        for status in result.statuses { out += "  \(status)\n" }
        if let requests = c.requests, !requests.isEmpty {
            out += "requests:\n"
            for r in requests {
                let scheme = Scheme(rawValue: r.scheme ?? "http") ?? .http
                out += "  \(scheme == .https ? "https " : "")\(r.host ?? "(no host)") \(r.target) → \(result.table.decide(host: r.host, target: r.target, scheme: scheme).summary)\n"
            }
        }
        return out
    }

    /// Every name is a certificate, except names starting with `missing`.
    struct NamedCertificates: CertificateSource {
        func load(_ names: CertificateNames) -> CertificateLoad {
            if names.certificate.hasPrefix("missing") { return CertificateLoad(certificate: nil, problem: "cannot read /run/secrets/\(names.certificate)") }
            return CertificateLoad(certificate: TLSCertificate(name: names.description, certificatePEM: "PEM of \(names.certificate)",
                                                                privateKeyPEM: "KEY of \(names.key)"), problem: nil)
        }
    }

    @Test("there are fixtures to check")
    func present() {
        #expect(Self.names().count >= 8)
    }

    @Test("each fixture compiles to its expected text", arguments: names())
    func fixture(name: String) throws {
        let json = try Data(contentsOf: Self.fixtures.appendingPathComponent(name + ".json"))
        let c = try JSONDecoder().decode(Case.self, from: json)
        let actual = try Self.render(c)

        if ProcessInfo.processInfo.environment["PIER_UPDATE_FIXTURES"] == "1" {
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("Fixtures").appendingPathComponent(name + ".expected.txt")
            try actual.write(to: source, atomically: true, encoding: .utf8)
            Issue.record("wrote \(source.path); review it, then run again without PIER_UPDATE_FIXTURES")
            return
        }
        let expectedURL = Self.fixtures.appendingPathComponent(name + ".expected.txt")
        guard let expected = try? String(contentsOf: expectedURL, encoding: .utf8) else {
            Issue.record("missing \(name).expected.txt; it would be:\n\(actual)")
            return
        }
        #expect(actual == expected)
    }
}
