import Crypto
import Foundation
import X509

/// The cluster certificate authority: a self-signed ECDSA P-256 CA that issues the controller's and the
/// proxies' leaves (docs/credentials.md).
///
/// Its key stays in the operator's directory (`ca.key`); only `ca.crt` enters the cluster. Profile: CA:true
/// with path length 0 (critical, so no intermediate can be made with it), keyCertSign + cRLSign, 10 years.
public struct ClusterCA: Sendable {
    /// The CA certificate.
    public let certificate: Certificate
    /// The CA certificate, PEM.
    public let certificatePEM: String
    /// The CA private key, PEM PKCS#8 (`-----BEGIN PRIVATE KEY-----`). Keep it out of the cluster.
    public let privateKeyPEM: String
    // Crypto's keys are not Sendable on Linux: the key is kept as its scalar.
    private let privateKeyScalar: Data

    /// How long a generated CA is valid: 10 years.
    public static let validity: TimeInterval = 10 * 365.25 * 86_400
    /// How long an issued leaf is valid: 2 years.
    public static let leafValidity: TimeInterval = 2 * 365.25 * 86_400
    /// How far in the past validity starts, so that a node whose clock lags accepts a fresh certificate.
    public static let clockSkew: TimeInterval = 3600

    /// Generates a new CA, subject `CN=Pier cluster CA <8 hex digits>` (the random suffix tells CAs apart
    /// in a bundle and in logs).
    public static func generate(now: Date = Date()) throws -> ClusterCA {
        let key = P256.Signing.PrivateKey()
        let id = (0..<4).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let name = try DistinguishedName { CommonName("Pier cluster CA \(id)") }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: publicKey)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now - clockSkew, notValidAfter: now + validity,
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: Certificate.PrivateKey(key))
        return try ClusterCA(certificate: certificate, privateKey: key)
    }

    /// Loads an existing CA from its PEM certificate and PEM private key (PKCS#8 or SEC1), to issue new
    /// leaves. Throws `CredentialError.invalid` naming `certificatePath` or `keyPath` (the key's content is
    /// never part of an error).
    public init(certificatePEM: String, privateKeyPEM: String,
                certificatePath: String = "ca.crt", keyPath: String = "ca.key") throws {
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: certificatePEM)
        } catch {
            throw CredentialError.invalid(path: certificatePath, reason: "not a PEM certificate")
        }
        guard certificate.isCertificateAuthority else {
            throw CredentialError.invalid(path: certificatePath, reason: "not a CA certificate (basicConstraints CA:true missing)")
        }
        guard let key = try? P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM) else {
            throw CredentialError.invalid(path: keyPath, reason: "not a PEM ECDSA P-256 private key")
        }
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw CredentialError.keyMismatch(certificate: certificatePath, key: keyPath)
        }
        try self.init(certificate: certificate, privateKey: key)
    }

    init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) throws {
        self.certificate = certificate
        self.certificatePEM = try certificate.serializeAsPEM().pemString.withFinalNewline
        self.privateKeyPEM = privateKey.pemRepresentation.withFinalNewline
        self.privateKeyScalar = privateKey.rawRepresentation
    }

    /// Issues a new leaf for `role`: a fresh P-256 key, random serial, 2 years from an hour ago,
    /// keyUsage digitalSignature, the role's single EKU and its DNS name as the only SAN.
    public func issue(_ role: CredentialRole, now: Date = Date()) throws -> IssuedCredential {
        try issue(role, dnsName: role.dnsName, now: now)
    }

    /// `issue(_:now:)` with another SAN: tests use it to prove a wrong name is refused.
    func issue(_ role: CredentialRole, dnsName: String, now: Date) throws -> IssuedCredential {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let caKeyID = try certificate.extensions.subjectKeyIdentifier?.keyIdentifier
            ?? SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([role.extendedKeyUsage])
            SubjectAlternativeNames([.dnsName(dnsName)])
            SubjectKeyIdentifier(hash: publicKey)
            AuthorityKeyIdentifier(keyIdentifier: caKeyID)
        }
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now - Self.clockSkew, notValidAfter: now + Self.leafValidity,
            issuer: certificate.subject, subject: try DistinguishedName { CommonName(dnsName) },
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: Certificate.PrivateKey(try P256.Signing.PrivateKey(rawRepresentation: privateKeyScalar)))
        return try IssuedCredential(role: role, certificate: leaf, privateKey: key)
    }
}

/// A leaf certificate and its private key, as `ClusterCA.issue` made them.
public struct IssuedCredential: Sendable {
    /// The role the leaf was issued for.
    public let role: CredentialRole
    /// The leaf certificate.
    public let certificate: Certificate
    /// The leaf certificate, PEM.
    public let certificatePEM: String
    /// The leaf's private key, PEM PKCS#8 (`-----BEGIN PRIVATE KEY-----`), which NIOSSL loads.
    public let privateKeyPEM: String

    init(role: CredentialRole, certificate: Certificate, privateKey: P256.Signing.PrivateKey) throws {
        self.role = role
        self.certificate = certificate
        self.certificatePEM = try certificate.serializeAsPEM().pemString.withFinalNewline
        self.privateKeyPEM = privateKey.pemRepresentation.withFinalNewline
    }
}

extension String {
    /// PEM as files hold it: ending in a newline, so that `cat a.crt b.crt` gives a valid bundle.
    var withFinalNewline: String { hasSuffix("\n") ? self : self + "\n" }
}

extension Certificate {
    var isCertificateAuthority: Bool {
        if case .isCertificateAuthority = try? extensions.basicConstraints { return true }
        return false
    }
}
