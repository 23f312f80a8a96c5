import Foundation
import LabelConfig
import RouteModel

/// The wire form of `BuildInputs`: what a controller sends its proxies. Plain Codable values with an explicit
/// mapping, so that the route model carries no wire concerns and the schema changes only when it is meant to.
struct SnapshotDocument: Codable, Equatable {
    /// The only schema this build reads; a proxy refuses (NACKs) any other.
    static let currentSchema = 1

    var schema: Int
    var serviceCluster: String
    var settings: Settings
    var services: [Service]
    var certificates: [Certificate]
    var defaultCertificate: Names?
    var providerIssues: [Issue]
    var rejected: [String: String]

    struct Service: Codable, Equatable {
        var name: String
        var labels: [String: String]
        var endpoints: [String]
    }

    struct Names: Codable, Equatable {
        var certificate: String
        var key: String
    }

    struct Certificate: Codable, Equatable {
        var names: Names
        /// Present when the controller has a certificate to use for these names.
        var name: String?
        var certificatePEM: String?
        var privateKeyPEM: String?
        var notValidAfter: Int64?
        var dnsNames: [String]?
        /// Why the named secrets cannot be used as they are now (never their content).
        var problem: String?
    }

    struct Issue: Codable, Equatable {
        var severity: String
        var service: String?
        var key: String?
        var value: String?
        var reason: String
    }

    /// Durations in milliseconds.
    struct Settings: Codable, Equatable {
        var connectTimeout: Int64
        var readTimeout: Int64
        var sendTimeout: Int64
        var clientBodyTimeout: Int64
        var keepaliveTimeout: Int64
        var clientHeaderTimeout: Int64
        var upstreamIdleTimeout: Int64
        var responseHeaderTimeout: Int64
        var tlsHandshakeTimeout: Int64
        var clientMaxBodySize: Int64?
        var maxHeaderSize: Int
        var underscoresInHeaders: Bool
        var hideInfoHeaders: Bool
        var proxyID: String
        var accessLog: Bool
        var maxIdleUpstreamConnections: Int
        var tlsMinimumVersion: Int
        var tlsMaximumVersion: Int
        var tlsCiphers: String
        var publishedHTTPSPort: Int?
    }
}

/// Why a received snapshot cannot be used.
public struct SnapshotError: Error, CustomStringConvertible, Equatable {
    public var description: String
}

extension SnapshotDocument {
    init(_ inputs: BuildInputs) {
        schema = Self.currentSchema
        serviceCluster = inputs.serviceCluster
        settings = Settings(inputs.settings)
        services = inputs.services.sorted { $0.name < $1.name }.map { service in
            Service(name: service.name, labels: service.labels, endpoints: service.endpoints.map(\.description).sorted())
        }
        certificates = inputs.certificates.map { names, load in
            Certificate(names: Names(certificate: names.certificate, key: names.key), name: load.certificate?.name,
                        certificatePEM: load.certificate?.certificatePEM, privateKeyPEM: load.certificate?.privateKeyPEM,
                        notValidAfter: load.certificate?.notValidAfter, dnsNames: load.certificate?.dnsNames,
                        problem: load.problem)
        }.sorted { ($0.names.certificate, $0.names.key) < ($1.names.certificate, $1.names.key) }
        defaultCertificate = inputs.defaultCertificate.map { Names(certificate: $0.certificate, key: $0.key) }
        providerIssues = inputs.providerIssues.map {
            Issue(severity: $0.severity.rawValue, service: $0.service, key: $0.key, value: $0.value, reason: $0.reason)
        }
        rejected = inputs.rejected
    }

    /// The inputs this document describes; throws on anything a proxy cannot use as it is.
    func inputs() throws -> BuildInputs {
        guard schema == Self.currentSchema else {
            throw SnapshotError(description: "snapshot schema \(schema) is not known to this Pier (it reads schema \(Self.currentSchema))")
        }
        var described: [ServiceDescription] = []
        for service in services {
            var endpoints: [ServiceDescription.Address] = []
            for endpoint in service.endpoints {
                guard let address = ServiceDescription.Address(parsing: endpoint) else {
                    throw SnapshotError(description: "service \"\(service.name)\": endpoint \"\(endpoint)\" is not host[:port]")
                }
                endpoints.append(address)
            }
            described.append(ServiceDescription(name: service.name, labels: service.labels, endpoints: endpoints))
        }
        var loads: [CertificateNames: CertificateLoad] = [:]
        for entry in certificates {
            var certificate: TLSCertificate?
            if let name = entry.name, let chain = entry.certificatePEM, let key = entry.privateKeyPEM {
                certificate = TLSCertificate(name: name, certificatePEM: chain, privateKeyPEM: key,
                                             notValidAfter: entry.notValidAfter, dnsNames: entry.dnsNames ?? [])
            }
            loads[CertificateNames(certificate: entry.names.certificate, key: entry.names.key)] =
                CertificateLoad(certificate: certificate, problem: entry.problem)
        }
        var issues: [RouteIssue] = []
        for issue in providerIssues {
            guard let severity = RouteIssue.Severity(rawValue: issue.severity) else {
                throw SnapshotError(description: "unknown issue severity \"\(issue.severity)\"")
            }
            issues.append(RouteIssue(severity, service: issue.service, key: issue.key, value: issue.value, reason: issue.reason))
        }
        return BuildInputs(serviceCluster: serviceCluster, settings: try settings.proxySettings(), services: described,
                           certificates: loads,
                           defaultCertificate: defaultCertificate.map { CertificateNames(certificate: $0.certificate, key: $0.key) },
                           providerIssues: issues, rejected: rejected)
    }
}

extension SnapshotDocument.Settings {
    init(_ s: ProxySettings) {
        func ms(_ d: Duration) -> Int64 {
            let (seconds, attoseconds) = d.components
            return seconds * 1000 + attoseconds / 1_000_000_000_000_000
        }
        connectTimeout = ms(s.connectTimeout)
        readTimeout = ms(s.readTimeout)
        sendTimeout = ms(s.sendTimeout)
        clientBodyTimeout = ms(s.clientBodyTimeout)
        keepaliveTimeout = ms(s.keepaliveTimeout)
        clientHeaderTimeout = ms(s.clientHeaderTimeout)
        upstreamIdleTimeout = ms(s.upstreamIdleTimeout)
        responseHeaderTimeout = ms(s.responseHeaderTimeout)
        tlsHandshakeTimeout = ms(s.tlsHandshakeTimeout)
        clientMaxBodySize = s.clientMaxBodySize
        maxHeaderSize = s.maxHeaderSize
        underscoresInHeaders = s.underscoresInHeaders
        hideInfoHeaders = s.hideInfoHeaders
        proxyID = s.proxyID
        accessLog = s.accessLog
        maxIdleUpstreamConnections = s.maxIdleUpstreamConnections
        tlsMinimumVersion = s.tlsPolicy.minimumVersion.rawValue
        tlsMaximumVersion = s.tlsPolicy.maximumVersion.rawValue
        tlsCiphers = s.tlsPolicy.ciphers
        publishedHTTPSPort = s.publishedHTTPSPort
    }

    func proxySettings() throws -> ProxySettings {
        guard let minimum = TLSVersion(rawValue: tlsMinimumVersion), let maximum = TLSVersion(rawValue: tlsMaximumVersion) else {
            throw SnapshotError(description: "unknown TLS version \(tlsMinimumVersion)/\(tlsMaximumVersion)")
        }
        let durations = [connectTimeout, readTimeout, sendTimeout, clientBodyTimeout, keepaliveTimeout, clientHeaderTimeout,
                         upstreamIdleTimeout, responseHeaderTimeout, tlsHandshakeTimeout]
        guard durations.allSatisfy({ $0 >= 0 }), maxHeaderSize > 0, maxIdleUpstreamConnections >= 0 else {
            throw SnapshotError(description: "settings out of range")
        }
        return ProxySettings(
            connectTimeout: .milliseconds(connectTimeout), readTimeout: .milliseconds(readTimeout),
            sendTimeout: .milliseconds(sendTimeout), clientBodyTimeout: .milliseconds(clientBodyTimeout),
            keepaliveTimeout: .milliseconds(keepaliveTimeout), clientHeaderTimeout: .milliseconds(clientHeaderTimeout),
            responseHeaderTimeout: .milliseconds(responseHeaderTimeout), underscoresInHeaders: underscoresInHeaders,
            upstreamIdleTimeout: .milliseconds(upstreamIdleTimeout), clientMaxBodySize: clientMaxBodySize,
            maxHeaderSize: maxHeaderSize, hideInfoHeaders: hideInfoHeaders, proxyID: proxyID, accessLog: accessLog,
            maxIdleUpstreamConnections: maxIdleUpstreamConnections,
            tlsPolicy: TLSPolicy(minimumVersion: minimum, maximumVersion: maximum, ciphers: tlsCiphers),
            publishedHTTPSPort: publishedHTTPSPort, tlsHandshakeTimeout: .milliseconds(tlsHandshakeTimeout))
    }
}
