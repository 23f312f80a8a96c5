import Foundation
import NIOSSL

/// Credentials for channel tests, made with the openssl command line (independently of Pier's own `pier ca`):
/// a cluster CA with a controller leaf (serverAuth only, SAN pier-controller) and a proxy leaf (clientAuth
/// only, SAN pier-proxy), and a foreign CA with the same two leaves.
struct ClusterPKI: Sendable {
    typealias Leaf = (certificate: String, key: String)

    let ca: String
    let controller: Leaf
    let proxy: Leaf
    let foreignCA: String
    let foreignController: Leaf
    let foreignProxy: Leaf

    static let shared: ClusterPKI = try! ClusterPKI()

    init() throws {
        let cluster = try TestPKI(), foreign = try TestPKI()
        let server = ["extendedKeyUsage=serverAuth"], client = ["extendedKeyUsage=clientAuth"]
        ca = cluster.caPath
        controller = try cluster.issue("controller", names: ["pier-controller"], extensions: server)
        proxy = try cluster.issue("proxy", names: ["pier-proxy"], extensions: client)
        foreignCA = foreign.caPath
        foreignController = try foreign.issue("controller", names: ["pier-controller"], extensions: server)
        foreignProxy = try foreign.issue("proxy", names: ["pier-proxy"], extensions: client)
    }

    /// A controller's server context: `leaf`, client certificates required and verified against `ca`.
    static func serverContext(_ leaf: Leaf, trusting ca: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(leaf.certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: leaf.key, format: .pem)))
        configuration.trustRoots = .file(ca)
        configuration.certificateVerification = .noHostnameVerification
        configuration.minimumTLSVersion = .tlsv13
        configuration.applicationProtocols = ["h2"]
        return try NIOSSLContext(configuration: configuration)
    }

    /// A proxy's client context: `leaf` (or none), verifying the controller against `ca`.
    static func clientContext(_ leaf: Leaf?, trusting ca: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let leaf {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(leaf.certificate).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: leaf.key, format: .pem))
        }
        configuration.trustRoots = .file(ca)
        configuration.certificateVerification = .fullVerification
        configuration.minimumTLSVersion = .tlsv13
        configuration.applicationProtocols = ["h2"]
        return try NIOSSLContext(configuration: configuration)
    }
}
