import Foundation
import Logging
import Testing

@testable import Credentials

/// Loading `/run/secrets/pier-*`: every failure names its file and never shows key material.
@Suite("Credential files")
struct CredentialFilesTests {
    let ca: ClusterCA
    let proxy: IssuedCredential
    let secrets: SecretsDirectory

    init() throws {
        ca = try ClusterCA.generate()
        proxy = try ca.issue(.proxy)
        secrets = try SecretsDirectory(cas: [ca], leaves: [try ca.issue(.controller), proxy])
    }

    func path(_ name: String) -> String { secrets.file(name).path }

    @Test func theFingerprintAndKeyIDAreOpenssls() throws {
        defer { secrets.remove() }
        let credentials = try secrets.load(.proxy)
        let fingerprint = try openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", path("pier-ca.crt")])
        #expect(fingerprint.lowercased().replacingOccurrences(of: ":", with: "").hasSuffix("=\(credentials.caFingerprint)\n"), "\(fingerprint)")
        // SHA-256 of the leaf's DER SubjectPublicKeyInfo, as openssl computes it.
        try openssl(["x509", "-noout", "-pubkey", "-in", path("pier-proxy.crt")]).write(to: secrets.file("proxy.pub"), atomically: false, encoding: .utf8)
        try openssl(["pkey", "-pubin", "-in", path("proxy.pub"), "-outform", "DER", "-out", path("proxy.pub.der")])
        let digest = try openssl(["dgst", "-sha256", "-r", path("proxy.pub.der")])
        #expect(digest.hasPrefix(credentials.publicKeyID + " "), "\(digest) vs \(credentials.publicKeyID)")
        #expect(CredentialFiles.publicKeyID(of: credentials.leaf) == credentials.publicKeyID)
        #expect(CredentialFiles.publicKeyID(of: credentials.trustRoots[0]) != credentials.publicKeyID)
        #expect(credentials.caNotValidAfter == ca.certificate.notValidAfter)
        #expect(credentials.notValidAfter == proxy.certificate.notValidAfter)
    }

    @Test func eachMissingFileIsNamed() throws {
        defer { secrets.remove() }
        for name in ["pier-ca.crt", "pier-proxy.crt", "pier-proxy.key"] {
            let saved = try Data(contentsOf: secrets.file(name))
            try FileManager.default.removeItem(at: secrets.file(name))
            #expect(throws: CredentialError.missing(path: path(name))) { try secrets.load(.proxy) }
            try saved.write(to: secrets.file(name))
        }
        _ = try secrets.load(.proxy)
    }

    @Test func anUnreadableFileSaysWhy() throws {
        defer { secrets.remove() }
        try FileManager.default.removeItem(at: secrets.file("pier-proxy.key"))
        try FileManager.default.createDirectory(at: secrets.file("pier-proxy.key"), withIntermediateDirectories: false)
        #expect(throws: CredentialError.unreadable(path: path("pier-proxy.key"), reason: "Is a directory")) { try secrets.load(.proxy) }
    }

    @Test func invalidContentIsNamedWithoutShowingTheKey() throws {
        defer { secrets.remove() }
        // A certificate where the key belongs: the message must not echo the file.
        try proxy.certificatePEM.write(to: secrets.file("pier-proxy.key"), atomically: false, encoding: .utf8)
        do {
            _ = try secrets.load(.proxy)
            Issue.record("a certificate loaded as a key")
        } catch let error as CredentialError {
            #expect(error == .invalid(path: path("pier-proxy.key"), reason: "not a PEM ECDSA P-256 private key"))
            #expect(!"\(error)".contains("BEGIN"))
        }
        try "garbage".write(to: secrets.file("pier-ca.crt"), atomically: false, encoding: .utf8)
        #expect(throws: CredentialError.invalid(path: path("pier-ca.crt"), reason: "no PEM certificate in it")) { try secrets.load(.proxy) }
    }

    @Test func aKeyOfAnotherCertificateIsRefused() throws {
        defer { secrets.remove() }
        try ca.issue(.proxy).privateKeyPEM.write(to: secrets.file("pier-proxy.key"), atomically: false, encoding: .utf8)
        #expect(throws: CredentialError.keyMismatch(certificate: path("pier-proxy.crt"), key: path("pier-proxy.key"))) {
            try secrets.load(.proxy)
        }
    }

    @Test func aLeafOfTheOtherRoleOrAnotherCAIsRefused() throws {
        defer { secrets.remove() }
        // The controller's pair mounted under the proxy's names.
        try FileManager.default.removeItem(at: secrets.file("pier-proxy.crt"))
        try FileManager.default.copyItem(at: secrets.file("pier-controller.crt"), to: secrets.file("pier-proxy.crt"))
        #expect(throws: CredentialError.wrongRole(path: path("pier-proxy.crt"), expected: .proxy)) { try secrets.load(.proxy) }

        let stranger = try SecretsDirectory(cas: [ca], leaves: [try ClusterCA.generate().issue(.proxy)])
        defer { stranger.remove() }
        #expect(throws: CredentialError.notIssuedByCA(certificate: stranger.file("pier-proxy.crt").path, ca: stranger.file("pier-ca.crt").path)) {
            try stranger.load(.proxy)
        }
        // A leaf in the CA file is refused: it could not sign anything anyway.
        try proxy.certificatePEM.write(to: secrets.file("pier-ca.crt"), atomically: false, encoding: .utf8)
        #expect(throws: CredentialError.invalid(path: path("pier-ca.crt"), reason: "holds a certificate that is not a CA (basicConstraints CA:true missing)")) {
            try secrets.load(.controller)
        }
    }

    @Test func inABundleTheIssuingCAGivesTheFingerprint() throws {
        defer { secrets.remove() }
        let older = try ClusterCA.generate()
        let bundle = try SecretsDirectory(cas: [older, ca], leaves: [proxy])
        defer { bundle.remove() }
        let fromBundle = try bundle.load(.proxy)
        #expect(fromBundle.caCertificates.count == 2)
        #expect(fromBundle.issuer == ca.certificate)
        #expect(fromBundle.caFingerprint == (try secrets.load(.proxy)).caFingerprint)
    }

    @Test func expiryIsWarnedThirtyDaysAhead() throws {
        defer { secrets.remove() }
        let credentials = try secrets.load(.proxy)
        #expect(credentials.expiryWarnings(now: Date()).isEmpty)
        let lateLeaf = credentials.notValidAfter - 10 * 86_400
        let warnings = credentials.expiryWarnings(now: lateLeaf)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("the proxy certificate (\(path("pier-proxy.crt"))) expires in 10 days") == true, "\(warnings)")
        let expired = credentials.expiryWarnings(now: credentials.caNotValidAfter + 1)
        #expect(expired.count == 2 && expired.allSatisfy { $0.contains(" expired, at ") }, "\(expired)")
    }
}
