import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Testing

@testable import Credentials

/// Real TLS 1.3 handshakes over loopback with the channel's configurations: only a proxy of the cluster CA
/// reaches only a controller of the cluster CA. Each case changes one thing against the valid pair.
@Suite("Mutual TLS between controller and proxy (loopback)")
struct MutualTLSTests {
    let ca: ClusterCA
    let secrets: SecretsDirectory

    init() throws {
        ca = try ClusterCA.generate()
        secrets = try SecretsDirectory(cas: [ca], leaves: [try ca.issue(.controller), try ca.issue(.proxy)])
    }

    /// Credentials of one role from a CA of their own.
    func credentials(_ role: CredentialRole, from authority: ClusterCA, dnsName: String? = nil) throws -> CredentialFiles {
        let leaf = try authority.issue(role, dnsName: dnsName ?? role.dnsName, now: Date())
        let directory = try SecretsDirectory(cas: [authority], leaves: [leaf])
        defer { directory.remove() }
        return try directory.load(role)
    }

    @Test func aProxyOfTheClusterReachesItsControllerWithH2() async throws {
        defer { secrets.remove() }
        let outcome = try await handshake(server: try secrets.load(.controller).serverConfiguration(),
                                          client: try secrets.load(.proxy).clientConfiguration())
        #expect(outcome.echoed, "\(outcome)")
        #expect(outcome.protocolNegotiated == "h2")
        // The controller can name the proxy that connected.
        #expect(outcome.clientKeyID == (try secrets.load(.proxy)).publicKeyID)
    }

    @Test func aClientWithoutCertificateIsRefused() async throws {
        defer { secrets.remove() }
        var client = try secrets.load(.proxy).clientConfiguration()
        client.certificateChain = []
        client.privateKey = nil
        let outcome = try await handshake(server: try secrets.load(.controller).serverConfiguration(), client: client)
        #expect(!outcome.echoed, "\(outcome)")
        #expect(outcome.serverErrors.contains { $0.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") || $0.contains("CERTIFICATE_REQUIRED") }, "\(outcome)")
    }

    @Test func aClientCertificateOfAnotherCAIsRefused() async throws {
        defer { secrets.remove() }
        // The stranger trusts our controller, so only the controller's check can stop it.
        var client = try credentials(.proxy, from: try ClusterCA.generate()).clientConfiguration()
        client.trustRoots = .certificates(try secrets.load(.proxy).trustRoots)
        let outcome = try await handshake(server: try secrets.load(.controller).serverConfiguration(), client: client)
        #expect(!outcome.echoed, "\(outcome)")
        #expect(outcome.serverErrors.contains { $0.contains("CERTIFICATE_VERIFY_FAILED") }, "\(outcome)")
    }

    @Test func aControllerCertificateCannotActAsAProxy() async throws {
        defer { secrets.remove() }
        // Same CA, a controller leaf (serverAuth only) as the client: only the EKU differs.
        let outcome = try await handshake(server: try secrets.load(.controller).serverConfiguration(),
                                          client: try secrets.load(.controller).clientConfiguration())
        #expect(!outcome.echoed, "\(outcome)")
        #expect(outcome.serverErrors.contains { $0.contains("CERTIFICATE_VERIFY_FAILED") }, "\(outcome)")
    }

    @Test(arguments: ["pier-controller", "pier-proxy"])
    func aProxyCertificateCannotActAsAController(dnsName: String) async throws {
        defer { secrets.remove() }
        // With the SAN pier-controller, only the EKU (clientAuth only) differs from a controller's leaf.
        let impostor = try credentials(.proxy, from: ca, dnsName: dnsName)
        let outcome = try await handshake(server: impostor.serverConfiguration(), client: try secrets.load(.proxy).clientConfiguration())
        #expect(!outcome.echoed, "\(outcome)")
        #expect(outcome.clientErrors.contains { $0.contains("CERTIFICATE_VERIFY_FAILED") || $0.contains("unableToValidateCertificate") }, "\(outcome)")
    }

    @Test func aControllerCertificateWithAnotherNameIsRefused() async throws {
        defer { secrets.remove() }
        let misnamed = try credentials(.controller, from: ca, dnsName: "pier-controller.example")
        let outcome = try await handshake(server: misnamed.serverConfiguration(), client: try secrets.load(.proxy).clientConfiguration())
        #expect(!outcome.echoed, "\(outcome)")
        #expect(!outcome.clientErrors.isEmpty, "\(outcome)")
    }

    @Test func aControllerOfAnotherCAIsRefusedDespiteTheRightName() async throws {
        defer { secrets.remove() }
        let stranger = try ClusterCA.generate()
        var server = try credentials(.controller, from: stranger).serverConfiguration()
        // It would accept our proxy: only the proxy's check can stop it.
        server.trustRoots = .certificates(try secrets.load(.proxy).trustRoots)
        let outcome = try await handshake(server: server, client: try secrets.load(.proxy).clientConfiguration())
        #expect(!outcome.echoed, "\(outcome)")
        #expect(outcome.clientErrors.contains { $0.contains("CERTIFICATE_VERIFY_FAILED") }, "\(outcome)")
    }

    @Test func aCABundleTrustsLeavesOfEitherCA() async throws {
        defer { secrets.remove() }
        // Mid-rotation: the controller has a leaf of the new CA, the proxy one of the old, both trust both.
        let newCA = try ClusterCA.generate()
        let controller = try SecretsDirectory(cas: [ca, newCA], leaves: [try newCA.issue(.controller)])
        let proxy = try SecretsDirectory(cas: [ca, newCA], leaves: [try ca.issue(.proxy)])
        defer { controller.remove(); proxy.remove() }
        let outcome = try await handshake(server: try controller.load(.controller).serverConfiguration(),
                                          client: try proxy.load(.proxy).clientConfiguration())
        #expect(outcome.echoed, "\(outcome)")
        // Without the old CA in its file, the controller refuses the old proxy.
        let newOnly = try SecretsDirectory(cas: [newCA], leaves: [try newCA.issue(.controller)])
        defer { newOnly.remove() }
        let refused = try await handshake(server: try newOnly.load(.controller).serverConfiguration(),
                                          client: try proxy.load(.proxy).clientConfiguration())
        #expect(!refused.echoed, "\(refused)")
    }

    @Test func bothEndsSpeakOnlyTLS13() throws {
        defer { secrets.remove() }
        for configuration in [try secrets.load(.controller).serverConfiguration(), try secrets.load(.proxy).clientConfiguration()] {
            #expect(configuration.minimumTLSVersion == .tlsv13 && configuration.maximumTLSVersion == .tlsv13)
            #expect(configuration.applicationProtocols == ["h2"])
            #expect(configuration.additionalTrustRoots.isEmpty)
        }
        #expect(try secrets.load(.controller).serverConfiguration().certificateVerification == .noHostnameVerification)
        #expect(try secrets.load(.proxy).clientConfiguration().certificateVerification == .fullVerification)
    }
}
