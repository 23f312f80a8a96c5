import X509

/// Which end of the controller ↔ proxy channel a leaf certificate authenticates.
///
/// The role fixes the certificate profile (one extended key usage, one DNS name) and the secret file names
/// the stack mounts, so a certificate of one role cannot serve as the other: BoringSSL checks the extended
/// key usage against the side of the handshake.
public enum CredentialRole: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The controller: a TLS server; EKU serverAuth only, SAN `DNS:pier-controller`.
    case controller
    /// A proxy: a TLS client; EKU clientAuth only, SAN `DNS:pier-proxy`.
    case proxy

    /// The DNS name in the leaf's subjectAltName; the proxy verifies the controller's against it.
    public var dnsName: String { "pier-\(rawValue)" }

    /// The certificate's file name under the secrets directory (`pier-controller.crt`, `pier-proxy.crt`).
    public var certificateFileName: String { "pier-\(rawValue).crt" }

    /// The private key's file name under the secrets directory (`pier-controller.key`, `pier-proxy.key`).
    public var keyFileName: String { "pier-\(rawValue).key" }

    /// `controller` or `proxy`.
    public var description: String { rawValue }

    var extendedKeyUsage: ExtendedKeyUsage.Usage {
        switch self {
        case .controller: return .serverAuth
        case .proxy: return .clientAuth
        }
    }
}
