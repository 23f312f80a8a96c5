import Foundation
import NIOSSL
import Testing
import X509

@testable import Credentials

/// Every generated certificate as `openssl` reads it: chain, CA flags, and each role's exact EKU and SAN.
@Suite("Cluster CA (checked with openssl)")
struct ClusterCATests {
    let ca: ClusterCA
    let directory: URL

    init() throws {
        ca = try ClusterCA.generate()
        directory = try makeTemporaryDirectory()
        try ca.certificatePEM.write(to: directory.appendingPathComponent("ca.crt"), atomically: false, encoding: .utf8)
    }

    func write(_ leaf: IssuedCredential, as name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try leaf.certificatePEM.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    @Test func theCAIsACriticalPathLengthZeroCAForTenYears() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = try openssl(["x509", "-text", "-noout", "-in", directory.appendingPathComponent("ca.crt").path])
        #expect(text.contains("X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0"), "\(text)")
        #expect(text.contains("X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"), "\(text)")
        #expect(text.contains("Public Key Algorithm: id-ecPublicKey") && text.contains("NIST CURVE: P-256"), "\(text)")
        #expect(text.contains("Signature Algorithm: ecdsa-with-SHA256"))
        #expect(text.range(of: #"Subject: CN ?= ?Pier cluster CA [0-9a-f]{8}\n"#, options: .regularExpression) != nil, "\(text)")
        let years = ca.certificate.notValidAfter.timeIntervalSince(ca.certificate.notValidBefore) / (365.25 * 86_400)
        #expect(abs(years - 10) < 0.01)
        #expect(try ClusterCA.generate().certificate.subject != ca.certificate.subject, "two CAs share a name")
        // Self-signed and valid as its own root.
        #expect(try openssl(["verify", "-CAfile", directory.appendingPathComponent("ca.crt").path,
                             directory.appendingPathComponent("ca.crt").path]).contains(": OK"))
    }

    @Test(arguments: [(CredentialRole.controller, "TLS Web Server Authentication", "DNS:pier-controller"),
                      (CredentialRole.proxy, "TLS Web Client Authentication", "DNS:pier-proxy")])
    func leavesVerifyAndCarryOnlyTheirRolesUsageAndName(role: CredentialRole, usage: String, name: String) throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let now = Date()
        let leaf = try ca.issue(role, now: now)
        let path = try write(leaf, as: "\(role).crt")
        let caPath = directory.appendingPathComponent("ca.crt").path
        #expect(try openssl(["verify", "-CAfile", caPath, path]) == "\(path): OK\n")
        let purpose = role == .controller ? "sslserver" : "sslclient"
        #expect(try openssl(["verify", "-CAfile", caPath, "-purpose", purpose, path]).hasSuffix(": OK\n"))
        let other = try runProcess(try executableInPath("openssl"),
                                   ["verify", "-CAfile", caPath, "-purpose", role == .controller ? "sslclient" : "sslserver", path])
        #expect(other.status != 0, "a \(role) certificate verifies for the other role: \(other.out)")

        let text = try openssl(["x509", "-text", "-noout", "-in", path])
        #expect(text.contains("X509v3 Extended Key Usage: \n                \(usage)\n"), "\(text)")
        #expect(text.contains("X509v3 Subject Alternative Name: \n                \(name)\n"), "\(text)")
        #expect(text.contains("X509v3 Key Usage: critical\n                Digital Signature\n"), "\(text)")
        #expect(text.contains("X509v3 Basic Constraints: critical\n                CA:FALSE"), "\(text)")
        #expect(leaf.certificate.notValidBefore <= now - 3599 && leaf.certificate.notValidBefore >= now - 3601)
        let years = leaf.certificate.notValidAfter.timeIntervalSince(now) / (365.25 * 86_400)
        #expect(abs(years - 2) < 0.01)
        #expect(try ca.issue(role).certificate.serialNumber != leaf.certificate.serialNumber)
    }

    @Test func aLoadedCAIssuesLeavesTheOriginalVerifies() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let loaded = try ClusterCA(certificatePEM: ca.certificatePEM, privateKeyPEM: ca.privateKeyPEM)
        let path = try write(try loaded.issue(.proxy), as: "proxy.crt")
        #expect(try openssl(["verify", "-CAfile", directory.appendingPathComponent("ca.crt").path, path]).hasSuffix(": OK\n"))
        // A SEC1 key (`openssl ec`'s output) loads as well as the PKCS#8 Pier writes.
        let keyPath = directory.appendingPathComponent("ca.key").path
        try ca.privateKeyPEM.write(toFile: keyPath, atomically: false, encoding: .utf8)
        let sec1 = try openssl(["ec", "-in", keyPath])
        #expect(sec1.contains("BEGIN EC PRIVATE KEY"))
        _ = try ClusterCA(certificatePEM: ca.certificatePEM, privateKeyPEM: sec1)

        let stranger = try ClusterCA.generate()
        #expect(throws: CredentialError.keyMismatch(certificate: "ca.crt", key: "ca.key")) {
            try ClusterCA(certificatePEM: ca.certificatePEM, privateKeyPEM: stranger.privateKeyPEM)
        }
        let leaf = try ca.issue(.controller)
        #expect(throws: CredentialError.invalid(path: "ca.crt", reason: "not a CA certificate (basicConstraints CA:true missing)")) {
            try ClusterCA(certificatePEM: leaf.certificatePEM, privateKeyPEM: leaf.privateKeyPEM)
        }
    }

    @Test func nioSSLLoadsThePrivateKeysPierWritesAndSEC1Ones() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let leaf = try ca.issue(.proxy)
        #expect(leaf.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        _ = try NIOSSLPrivateKey(bytes: Array(leaf.privateKeyPEM.utf8), format: .pem)
        let keyPath = directory.appendingPathComponent("proxy.key").path
        try leaf.privateKeyPEM.write(toFile: keyPath, atomically: false, encoding: .utf8)
        _ = try NIOSSLPrivateKey(bytes: Array(try openssl(["ec", "-in", keyPath]).utf8), format: .pem)
    }
}
