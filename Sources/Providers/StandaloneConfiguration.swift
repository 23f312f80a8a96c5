import LabelConfig
import RouteModel

/// Pier's standalone configuration, as read from a TOML file: the entrypoint, proxy settings and the
/// services with their labels and endpoints.
public struct StandaloneConfiguration: Hashable, Sendable {
    /// Address and port of the HTTP entrypoint (`[Entrypoints] HTTP`).
    public var httpHost: String = "0.0.0.0"
    /// Port of the HTTP entrypoint.
    public var httpPort: Int = 8080
    /// Address of the HTTPS entrypoint (`[Entrypoints] HTTPS`); nil: no HTTPS entrypoint.
    public var httpsHost: String? = "0.0.0.0"
    /// Port of the HTTPS entrypoint.
    public var httpsPort: Int = 8443
    /// Address of the admin entrypoint (`[Entrypoints] Admin`); nil: no admin entrypoint. Loopback by default:
    /// it is unauthenticated unless `adminTokenFile` is set.
    public var adminHost: String? = "127.0.0.1"
    /// Port of the admin entrypoint.
    public var adminPort: Int = 8081
    /// File holding the admin entrypoint's bearer token (`[Config] AdminTokenFile`, a Docker secret).
    public var adminTokenFile: String?
    /// Folder certificate and key secret names are read from (`[Config] SecretsDirectory`).
    public var secretsDirectory: String = "/run/secrets"
    /// Certificate for HTTPS clients without SNI or with an unknown name (`DefaultCertificate`, `DefaultCertificateKey`).
    public var defaultCertificate: CertificateNames?
    /// Only services of this service cluster are routed (`ServiceCluster`).
    public var serviceCluster: String = ""
    /// Proxy settings (`[Config]`).
    public var settings = ProxySettings()
    /// The services (`[[Services]]`).
    public var services: [ServiceDescription] = []

    /// Creates the default configuration: HTTP on 0.0.0.0:8080, HTTPS on 0.0.0.0:8443, admin on 127.0.0.1:8081,
    /// no services.
    public init() {}

    /// Parses a listening address `host:port` (`[v6]:port`); port 0 asks the system for a free port.
    public static func parseListenAddress(_ text: String) -> (host: String, port: Int)? {
        if text.hasSuffix(":0"), let address = ServiceDescription.Address(parsing: String(text.dropLast(2)) + ":1") {
            return (address.host, 0)
        }
        guard let address = ServiceDescription.Address(parsing: text), let port = address.port else { return nil }
        return (address.host, port)
    }

    /// The builder for this configuration's route table, reading certificates from `certificates`.
    public func builder(certificates: (any CertificateSource)?) -> RouteTableBuilder {
        RouteTableBuilder(settings: settings, serviceCluster: serviceCluster, certificates: certificates,
                          defaultCertificate: defaultCertificate)
    }

    /// A certificate source for this configuration's secrets folder; file paths are allowed.
    public func makeCertificateFiles() -> CertificateFiles {
        CertificateFiles(directory: secretsDirectory, allowsPaths: true)
    }
}
