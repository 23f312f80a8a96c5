import Crypto
import Foundation
import NIOSSL
import X509

/// One role's credentials as the stack mounts them: the CA file and the role's leaf and key, loaded and
/// checked together, ready to build the channel's TLS configurations (`CredentialFiles+TLS.swift`).
///
/// File names are fixed (docs/credentials.md): `pier-ca.crt` (one CA certificate, or several during a CA
/// rotation), `pier-controller.crt` / `.key`, `pier-proxy.crt` / `.key`, by default in `/run/secrets`.
/// Loading fails with a `CredentialError` naming the file when one is missing, unreadable, not PEM, not of
/// the role, not issued by a CA of the CA file, or not the key of the certificate.
public struct CredentialFiles: Sendable {
    /// Where Swarm mounts secrets.
    public static let defaultDirectory = "/run/secrets"
    /// The CA file's name.
    public static let caFileName = "pier-ca.crt"
    /// Every credential file name of both roles: names no service label may use as its certificate.
    public static let reservedFileNames: Set<String> =
        Set([caFileName] + CredentialRole.allCases.flatMap { [$0.certificateFileName, $0.keyFileName] })
    /// The name a proxy verifies the controller's certificate against (`serverHostname` of the
    /// `NIOSSLClientHandler`), whatever address it dialled.
    public static let controllerServerName = CredentialRole.controller.dnsName

    /// The role whose leaf was loaded.
    public let role: CredentialRole
    /// The CA file's path.
    public let caPath: String
    /// The leaf certificate's path.
    public let certificatePath: String
    /// Every CA certificate of the CA file: all of them are trusted.
    public let caCertificates: [Certificate]
    /// The CA certificate (of `caCertificates`) that issued the leaf.
    public let issuer: Certificate
    /// The role's leaf certificate.
    public let certificate: Certificate
    /// SHA-256 of the issuing CA certificate's DER, lowercase hex (what `openssl x509 -fingerprint -sha256`
    /// prints, without colons).
    public let caFingerprint: String
    /// SHA-256 of the leaf's public key (DER SubjectPublicKeyInfo), lowercase hex: names these credentials
    /// in logs and in the proxy's `hello` without revealing anything.
    public let publicKeyID: String

    let caFingerprintBytes: [UInt8]
    let publicKeyDigest: [UInt8]
    /// The leaf key's scalar (raw 32 bytes): what the state key derives from. Crypto's keys are not Sendable on Linux.
    let privateKeyScalar: Data
    let trustRoots: [NIOSSLCertificate]
    let leaf: NIOSSLCertificate
    let leafKey: NIOSSLPrivateKey

    /// Loads and checks `pier-ca.crt` and the role's certificate and key from `directory`.
    public init(role: CredentialRole, directory: String = CredentialFiles.defaultDirectory) throws {
        let join = { (name: String) in directory.hasSuffix("/") ? directory + name : directory + "/" + name }
        let caPath = join(Self.caFileName), certificatePath = join(role.certificateFileName), keyPath = join(role.keyFileName)

        let trustRoots = try Self.certificates(at: caPath)
        let caCertificates = try trustRoots.map { try Self.parse($0, path: caPath) }
        guard caCertificates.allSatisfy(\.isCertificateAuthority) else {
            throw CredentialError.invalid(path: caPath, reason: "holds a certificate that is not a CA (basicConstraints CA:true missing)")
        }
        let leaf = try Self.certificates(at: certificatePath)[0]
        let certificate = try Self.parse(leaf, path: certificatePath)
        guard (try? certificate.extensions.extendedKeyUsage)??.contains(role.extendedKeyUsage) == true else {
            throw CredentialError.wrongRole(path: certificatePath, expected: role)
        }
        guard let issuerIndex = caCertificates.firstIndex(where: { ca in
            ca.subject == certificate.issuer && ca.publicKey.isValidSignature(certificate.signature, for: certificate)
        }) else {
            throw CredentialError.notIssuedByCA(certificate: certificatePath, ca: caPath)
        }

        let keyBytes = try Self.read(keyPath)
        // Errors below never include the key's bytes or the libraries' messages about them.
        guard let privateKey = try? P256.Signing.PrivateKey(pemRepresentation: String(decoding: keyBytes, as: UTF8.self)),
              let leafKey = try? NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
        else {
            throw CredentialError.invalid(path: keyPath, reason: "not a PEM ECDSA P-256 private key")
        }
        guard Certificate.PublicKey(privateKey.publicKey) == certificate.publicKey else {
            throw CredentialError.keyMismatch(certificate: certificatePath, key: keyPath)
        }

        self.role = role
        self.caPath = caPath
        self.certificatePath = certificatePath
        self.trustRoots = trustRoots
        self.caCertificates = caCertificates
        self.issuer = caCertificates[issuerIndex]
        self.leaf = leaf
        self.certificate = certificate
        self.privateKeyScalar = privateKey.rawRepresentation
        self.leafKey = leafKey
        caFingerprintBytes = Array(SHA256.hash(data: try trustRoots[issuerIndex].toDERBytes()))
        caFingerprint = caFingerprintBytes.hex
        publicKeyDigest = Self.publicKeyDigest(privateKey.publicKey)
        publicKeyID = publicKeyDigest.hex
    }

    /// The `publicKeyID` of a peer's certificate (`NIOSSLHandler`'s `peerCertificate` after the handshake),
    /// so that a controller can name the proxy that connected; nil for a key that is not P-256.
    public static func publicKeyID(of peer: NIOSSLCertificate) -> String? {
        guard let certificate = try? Certificate(derEncoded: peer.toDERBytes()),
              let key = P256.Signing.PublicKey(certificate.publicKey)
        else { return nil }
        return publicKeyDigest(key).hex
    }

    // SHA-256 of the DER SubjectPublicKeyInfo (X509's `subjectPublicKeyInfoBytes` is only the EC point).
    private static func publicKeyDigest(_ key: P256.Signing.PublicKey) -> [UInt8] {
        Array(SHA256.hash(data: key.derRepresentation))
    }

    /// When the issuing CA certificate expires.
    public var caNotValidAfter: Date { issuer.notValidAfter }

    /// When the leaf certificate expires.
    public var notValidAfter: Date { certificate.notValidAfter }

    static func read(_ path: String) throws -> [UInt8] {
        let bytes: [UInt8]?
        do {
            bytes = try FileIO.contents(of: path)
        } catch {
            throw CredentialError.unreadable(path: path, reason: error.reason)
        }
        guard let bytes else { throw CredentialError.missing(path: path) }
        return bytes
    }

    static func certificates(at path: String) throws -> [NIOSSLCertificate] {
        let bytes = try read(path)
        guard let certificates = try? NIOSSLCertificate.fromPEMBytes(bytes), !certificates.isEmpty else {
            throw CredentialError.invalid(path: path, reason: "no PEM certificate in it")
        }
        return certificates
    }

    static func parse(_ certificate: NIOSSLCertificate, path: String) throws -> Certificate {
        do {
            return try Certificate(derEncoded: certificate.toDERBytes())
        } catch {
            throw CredentialError.invalid(path: path, reason: "not an X.509 certificate this Pier can read (\(error))")
        }
    }
}

extension Sequence<UInt8> {
    /// Lowercase hexadecimal, two digits per byte.
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self { out += [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]] }
        return String(decoding: out, as: UTF8.self)
    }
}
