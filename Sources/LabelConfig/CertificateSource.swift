import RouteModel

/// The names of a certificate and its key: Docker secret names, or file paths where the provider allows them.
public struct CertificateNames: Hashable, Sendable, CustomStringConvertible {
    /// The certificate chain's name.
    public var certificate: String
    /// The private key's name.
    public var key: String

    /// Creates a pair of names.
    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
    }

    public var description: String { certificate == key ? certificate : "\(certificate)+\(key)" }
}

/// What loading a certificate gave: the certificate to use, and what went wrong, if anything.
///
/// Both may be set: a new certificate that fails validation is reported while the previous good one stays
/// in use.
public struct CertificateLoad: Sendable, Hashable {
    /// The certificate to use, if any.
    public var certificate: TLSCertificate?
    /// Why the named files could not be used as they are now.
    public var problem: String?

    /// Creates a result.
    public init(certificate: TLSCertificate?, problem: String?) {
        self.certificate = certificate
        self.problem = problem
    }
}

/// Reads and validates certificates for the table builder. The builder itself stays pure: providers pass a
/// source that reads files (and remembers the last good certificate of each name); tests pass fixed values.
public protocol CertificateSource: Sendable {
    /// Loads the certificate and key named by `names`.
    func load(_ names: CertificateNames) -> CertificateLoad
}

/// A source that knows a fixed set of certificates (tests, `pier check` without files).
public struct StaticCertificateSource: CertificateSource {
    /// The certificates by names.
    public var certificates: [CertificateNames: TLSCertificate]

    /// Creates a source.
    public init(_ certificates: [CertificateNames: TLSCertificate]) {
        self.certificates = certificates
    }

    public func load(_ names: CertificateNames) -> CertificateLoad {
        if let certificate = certificates[names] { return CertificateLoad(certificate: certificate, problem: nil) }
        return CertificateLoad(certificate: nil, problem: "no such secret")
    }
}
