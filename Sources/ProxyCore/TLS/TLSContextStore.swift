import NIOConcurrencyHelpers
import NIOSSL
import RouteModel

/// The compiled TLS contexts of the HTTPS entrypoint, one per certificate and policy of the snapshots in use.
///
/// Built on the first handshake that needs a context and kept while a current table names its certificate,
/// so that an unchanged certificate is parsed once whatever the number of reloads, and a rotated one is
/// parsed once on its first handshake. Shared by every event loop; the lock is held for a dictionary lookup.
final class TLSContextStore: Sendable {
    private struct Key: Hashable {
        var certificate: TLSCertificate
        var policy: TLSPolicy
    }

    private let contexts = NIOLockedValueBox<[Key: NIOSSLContext]>([:])

    /// ALPN protocols offered, in preference order.
    static let applicationProtocols = ["h2", "http/1.1"]

    /// The context for `certificate` under `policy`, built now if needed.
    func context(for certificate: TLSCertificate, policy: TLSPolicy, table: RouteTable) throws -> NIOSSLContext {
        let key = Key(certificate: certificate, policy: policy)
        if let context = contexts.withLockedValue({ $0[key] }) { return context }
        let context = try Self.makeContext(certificate, policy: policy)
        let inUse = Set(table.tls.certificates)
        contexts.withLockedValue { contexts in
            // Forget certificates no current table names any more (rotated or removed).
            if contexts.count >= 2 * max(8, inUse.count) {
                contexts = contexts.filter { inUse.contains($0.key.certificate) }
            }
            contexts[key] = context
        }
        return context
    }

    /// Builds a server context: the certificate chain and key, the policy's versions and ciphers, ALPN.
    static func makeContext(_ certificate: TLSCertificate, policy: TLSPolicy) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificate.certificatePEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(certificate.privateKeyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = policy.minimumVersion.nio
        configuration.maximumTLSVersion = policy.maximumVersion.nio
        configuration.cipherSuites = policy.ciphers
        configuration.applicationProtocols = applicationProtocols
        return try NIOSSLContext(configuration: configuration)
    }
}

extension RouteModel.TLSVersion {
    /// The swift-nio-ssl spelling.
    var nio: NIOSSL.TLSVersion {
        switch self {
        case .v1_0: return .tlsv1
        case .v1_1: return .tlsv11
        case .v1_2: return .tlsv12
        case .v1_3: return .tlsv13
        }
    }
}
