/// A certificate chain and its private key, as read from Docker secrets or files by a provider.
///
/// Part of the route table snapshot, so that a rotated certificate is a new table. Its description and
/// everything Pier prints name it only: the private key never appears in logs, errors or `pier routes`.
public struct TLSCertificate: Hashable, Sendable, CustomStringConvertible {
    /// What identifies the certificate for users: the secret (or file) names of certificate and key.
    public var name: String
    /// The certificate chain, PEM, leaf first.
    public var certificatePEM: String
    /// The private key, PEM.
    public var privateKeyPEM: String
    /// The leaf's expiry, seconds since 1970, when known.
    public var notValidAfter: Int64?
    /// The DNS names the leaf certifies (subject alternative names), lower case, for `pier routes`.
    public var dnsNames: [String]

    /// Creates a certificate.
    public init(name: String, certificatePEM: String, privateKeyPEM: String, notValidAfter: Int64? = nil, dnsNames: [String] = []) {
        self.name = name
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.notValidAfter = notValidAfter
        self.dnsNames = dnsNames
    }

    public var description: String { name }
}

/// What the HTTPS entrypoint does with a connection whose ClientHello names a host.
public enum TLSEntry: Hashable, Sendable {
    /// Terminate TLS with this certificate, then route the HTTP requests inside.
    case terminate(TLSCertificate)
    /// Do not terminate: relay the raw bytes to an endpoint of the pool with this id.
    case passthrough(pool: Int, proxyProtocol: ProxyProtocolVersion?)
}

/// The PROXY protocol header Pier can send ahead of a passthrough connection's bytes, so that the backend
/// learns the client's address (HAProxy's specification, versions 1 and 2).
public enum ProxyProtocolVersion: String, Hashable, Sendable {
    /// The text form (`PROXY TCP4 …\r\n`).
    case v1
    /// The binary form.
    case v2
}

/// The TLS versions Pier can offer.
public enum TLSVersion: Int, Hashable, Sendable, Comparable, CustomStringConvertible {
    case v1_0 = 10, v1_1 = 11, v1_2 = 12, v1_3 = 13

    /// Parses Interlock/nginx spelling: `TLSv1`, `TLSv1.1`, `TLSv1.2`, `TLSv1.3`.
    public init?(nginxName: String) {
        switch nginxName {
        case "TLSv1", "TLSv1.0": self = .v1_0
        case "TLSv1.1": self = .v1_1
        case "TLSv1.2": self = .v1_2
        case "TLSv1.3": self = .v1_3
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .v1_0: return "TLSv1"
        case .v1_1: return "TLSv1.1"
        case .v1_2: return "TLSv1.2"
        case .v1_3: return "TLSv1.3"
        }
    }

    public static func < (lhs: TLSVersion, rhs: TLSVersion) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The TLS policy of the HTTPS entrypoint (`SSLProtocols`, `SSLCiphers`).
public struct TLSPolicy: Hashable, Sendable {
    /// Mozilla's "intermediate" TLS 1.2 cipher list (TLS 1.3 suites are always the library's own, all AEAD).
    public static let intermediateCiphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// Lowest version offered.
    public var minimumVersion: TLSVersion
    /// Highest version offered.
    public var maximumVersion: TLSVersion
    /// OpenSSL cipher string for TLS 1.2 and below.
    public var ciphers: String

    /// TLS 1.2 and 1.3 with the intermediate cipher list.
    public init(minimumVersion: TLSVersion = .v1_2, maximumVersion: TLSVersion = .v1_3, ciphers: String = TLSPolicy.intermediateCiphers) {
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
        self.ciphers = ciphers
    }
}

/// The HTTPS entrypoint's half of a snapshot: which certificate each host name gets, which names are passed
/// through untouched, and the certificate for clients that send no name or an unknown one.
public struct TLSTable: Hashable, Sendable {
    /// Terminated and passthrough hosts, by pattern, sorted by pattern for stable output.
    public var entries: [HostPattern: TLSEntry]
    /// The certificate for handshakes without SNI or with an unknown name; nil: those fail with an
    /// `unrecognized_name` alert.
    public var defaultCertificate: TLSCertificate?

    /// Creates a TLS table.
    public init(entries: [HostPattern: TLSEntry] = [:], defaultCertificate: TLSCertificate? = nil) {
        self.entries = entries
        self.defaultCertificate = defaultCertificate
    }

    /// Every distinct certificate of the table, default included.
    public var certificates: [TLSCertificate] {
        var seen = Set<TLSCertificate>()
        var result: [TLSCertificate] = []
        for pattern in entries.keys.sorted() {
            if case .terminate(let certificate) = entries[pattern]!, seen.insert(certificate).inserted { result.append(certificate) }
        }
        if let defaultCertificate, seen.insert(defaultCertificate).inserted { result.append(defaultCertificate) }
        return result
    }
}

/// What to do with a TLS connection, decided from its ClientHello's server name and the snapshot.
public enum TLSDecision: Sendable, Equatable {
    /// Terminate with this certificate; `serverName` is the normalised SNI (nil when absent).
    case terminate(TLSCertificate)
    /// Relay the raw bytes to an endpoint of `pool`.
    case passthrough(pool: BackendPool, proxyProtocol: ProxyProtocolVersion?)
    /// No certificate for this name and no default: refuse with `unrecognized_name`.
    case reject
}
