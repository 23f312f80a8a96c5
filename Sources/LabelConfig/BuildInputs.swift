import RouteModel

/// Everything a route table is compiled from, certificates resolved: what a provider read, in a form that can
/// travel. A controller ships these to its proxies, which compile them with the same builder, so every proxy
/// ends with the controller's table without a second compiler or a wire form of the table.
public struct BuildInputs: Sendable, Hashable {
    /// Only services of this cluster are routed.
    public var serviceCluster: String
    /// Proxy settings copied into the table.
    public var settings: ProxySettings
    /// The services as the provider described them, sorted by name.
    public var services: [ServiceDescription]
    /// Every certificate the compile asked for, as it was loaded (the certificate, or why not).
    public var certificates: [CertificateNames: CertificateLoad]
    /// The certificate for HTTPS clients without SNI or with an unknown name.
    public var defaultCertificate: CertificateNames?
    /// Issues the provider found before compiling (a service on the wrong network), in its order.
    public var providerIssues: [RouteIssue]
    /// Services the provider left out, with the reason shown in their status.
    public var rejected: [String: String]

    /// Creates inputs.
    public init(serviceCluster: String = "", settings: ProxySettings = ProxySettings(), services: [ServiceDescription] = [],
                certificates: [CertificateNames: CertificateLoad] = [:], defaultCertificate: CertificateNames? = nil,
                providerIssues: [RouteIssue] = [], rejected: [String: String] = [:]) {
        self.serviceCluster = serviceCluster
        self.settings = settings
        self.services = services.sorted { $0.name < $1.name }
        self.certificates = certificates
        self.defaultCertificate = defaultCertificate
        self.providerIssues = providerIssues
        self.rejected = rejected
    }
}

extension RouteTableBuilder {
    /// Compiles `inputs`: certificates come from the loads they carry, provider issues come first and the
    /// services the provider left out get their status. Any process compiling equal inputs gets equal content.
    public static func build(_ inputs: BuildInputs, generation: UInt64 = 1) -> Result {
        RouteTableBuilder(settings: inputs.settings, serviceCluster: inputs.serviceCluster,
                          certificates: ResolvedCertificates(loads: inputs.certificates),
                          defaultCertificate: inputs.defaultCertificate)
            .build(parsed: inputs.services.map { $0.parsed() }, providerIssues: inputs.providerIssues, rejected: inputs.rejected, generation: generation)
    }

    /// Compiles `services` with this builder's certificate source, and returns the inputs that reproduce the
    /// same table anywhere (the certificate loads the compile made, recorded).
    public func buildWithInputs(_ services: [ServiceDescription], providerIssues: [RouteIssue] = [],
                                rejected: [String: String] = [:], generation: UInt64 = 1) -> (BuildInputs, Result) {
        buildWithInputs(parsed: services.map { $0.parsed() }, providerIssues: providerIssues, rejected: rejected, generation: generation)
    }

    /// As `buildWithInputs(_:providerIssues:rejected:generation:)`, for services whose labels are parsed
    /// already; the inputs carry their descriptions (a receiver parses them once itself).
    public func buildWithInputs(parsed services: [ParsedService], providerIssues: [RouteIssue] = [],
                                rejected: [String: String] = [:], generation: UInt64 = 1) -> (BuildInputs, Result) {
        let recorder = certificates.map(RecordingCertificateSource.init(wrapping:))
        var builder = self
        builder.certificates = recorder
        let result = builder.build(parsed: services, providerIssues: providerIssues, rejected: rejected, generation: generation)
        let inputs = BuildInputs(serviceCluster: serviceCluster, settings: settings, services: services.map(\.description),
                                 certificates: recorder?.loads ?? [:], defaultCertificate: defaultCertificate,
                                 providerIssues: providerIssues, rejected: rejected)
        return (inputs, result)
    }

    private func build(parsed services: [ParsedService], providerIssues: [RouteIssue], rejected: [String: String],
                       generation: UInt64) -> Result {
        var result = build(parsed: services, generation: generation)
        result.issues = providerIssues + result.issues
        for (name, reason) in rejected {
            result.statuses.append(ServiceStatus(service: name, state: .inactive(reason)))
        }
        result.statuses.sort { $0.service < $1.service }
        return result
    }
}

/// Certificates already loaded elsewhere (by a controller): a name it did not load is missing.
struct ResolvedCertificates: CertificateSource {
    var loads: [CertificateNames: CertificateLoad]

    func load(_ names: CertificateNames) -> CertificateLoad {
        loads[names] ?? CertificateLoad(certificate: nil, problem: "not loaded by the controller")
    }
}

/// Passes loads through and remembers them. Used within one synchronous compile only, hence unchecked.
final class RecordingCertificateSource: CertificateSource, @unchecked Sendable {
    private let source: any CertificateSource
    private(set) var loads: [CertificateNames: CertificateLoad] = [:]

    init(wrapping source: any CertificateSource) {
        self.source = source
    }

    func load(_ names: CertificateNames) -> CertificateLoad {
        if let known = loads[names] { return known }
        let load = source.load(names)
        loads[names] = load
        return load
    }
}
