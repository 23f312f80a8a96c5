import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

extension DockerClient {
    /// `POST /secrets/create`: a Swarm secret `name` holding `data`; returns its ID. The engine refuses
    /// (409, as `DockerError.status`) a name that exists: secrets are immutable, a new value takes a new name.
    ///
    /// Uses a client of its own for the one request: `DockerClient`'s is private to its file.
    public func createSecret(name: String, data: [UInt8], prefix: String) async throws -> String {
        let path = prefix + "/secrets/create"
        var request = HTTPClientRequest(url: endpoint.baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        // The engine rejects HTTP/1.1 requests without Host; a unix socket URL has none of its own.
        if case .unixSocket = endpoint.transport { request.headers.replaceOrAdd(name: "Host", value: "docker") }
        let spec = SecretSpec(Name: name, Data: Data(data).base64EncodedString())
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(spec)))

        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        if case .tcp(_, _, let files?) = endpoint.transport { configuration.tlsConfiguration = try Self.engineTLS(files) }
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let outcome: Result<(HTTPResponseStatus, ByteBuffer), Error>
        do {
            let response = try await http.execute(request, timeout: .seconds(30))
            outcome = .success((response.status, try await response.body.collect(upTo: 1024 * 1024)))
        } catch {
            outcome = .failure(DockerError.unreachable(endpoint: endpoint.description, underlying: "\(error)"))
        }
        try? await http.shutdown()
        let (status, body) = try outcome.get()
        guard status == .created || status == .ok else {
            throw DockerError.status(path: path, code: status.code, message: String(buffer: body))
        }
        do {
            return try JSONDecoder().decode(SecretCreated.self, from: Data(body.readableBytesView)).ID
        } catch {
            throw Self.decodingError(error, path: path)
        }
    }

    /// The client TLS of a `tcp+tls` endpoint (DOCKER_CERT_PATH files).
    static func engineTLS(_ files: DockerEndpoint.TLSFiles) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(files.caPath)
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(files.certificatePath).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: files.keyPath, format: .pem))
        if !files.verify { tls.certificateVerification = .none }
        return tls
    }
}

// Engine API field names.
private struct SecretSpec: Encodable {
    let Name: String
    let Data: String
}

private struct SecretCreated: Decodable {
    let ID: String
}
