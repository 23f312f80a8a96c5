import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// A small Docker Engine API client over AsyncHTTPClient: version negotiation, the lists the Swarm provider
/// reads, and the event stream. Every failure is a `DockerError` that names the endpoint or path.
public final class DockerClient: Sendable {
    /// The engine endpoint.
    public let endpoint: DockerEndpoint
    private let http: HTTPClient
    private let base: String
    /// Highest API version Pier speaks; the engine's own is used when lower.
    public static let maximumAPIVersion = (1, 47)
    public static let minimumAPIVersion = (1, 41)

    /// Creates a client; `shutdown()` must be called when done.
    public init(endpoint: DockerEndpoint) throws {
        self.endpoint = endpoint
        self.base = endpoint.baseURL
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: nil)
        configuration.decompression = .disabled
        if case .tcp(_, _, let files?) = endpoint.transport {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(files.caPath)
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(files.certificatePath).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: files.keyPath, format: .pem))
            if !files.verify { tls.certificateVerification = .none }
            configuration.tlsConfiguration = tls
        }
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the client's connections.
    public func shutdown() async {
        try? await http.shutdown()
    }

    /// `GET /version` and the API version prefix to use (`/v1.41`, …).
    public func negotiate() async throws -> String {
        // Short deadline: an unreachable engine is noticed within seconds (AsyncHTTPClient retries a refused
        // connection until the deadline).
        let version: Docker.Version = try await get("/version", prefix: "", timeout: .seconds(2))
        let parts = version.ApiVersion.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 2 else { throw DockerError.decoding(path: "/version", field: "ApiVersion", reason: "\"\(version.ApiVersion)\" is not major.minor") }
        let server = (parts[0], parts[1])
        guard server >= Self.minimumAPIVersion else { throw DockerError.unsupportedVersion(version.ApiVersion) }
        let use = server < Self.maximumAPIVersion ? server : Self.maximumAPIVersion
        return "/v\(use.0).\(use.1)"
    }

    /// `GET /services`.
    public func services(prefix: String) async throws -> [Docker.Service] { try await get("/services", prefix: prefix) }

    /// `GET /tasks?filters={"desired-state":["running"]}`.
    public func runningTasks(prefix: String) async throws -> [Docker.Task] {
        try await get("/tasks?filters=" + Self.encodeFilters(["desired-state": ["running"]]), prefix: prefix)
    }

    /// `GET /networks`.
    public func networks(prefix: String) async throws -> [Docker.Network] { try await get("/networks", prefix: prefix) }

    /// `GET /nodes`.
    public func nodes(prefix: String) async throws -> [Docker.Node] { try await get("/nodes", prefix: prefix) }

    /// `GET /secrets`: names and IDs only (the engine never returns a secret's data).
    public func secrets(prefix: String) async throws -> [Docker.Secret] { try await get("/secrets", prefix: prefix) }

    /// `GET /services/{id}` as the engine sent it: the spec's version and the whole service object, every field
    /// kept (the typed `Docker.Service` holds only what Pier reads; an update made from it would drop the rest).
    public func rawService(prefix: String, id: String) async throws -> (version: UInt64, json: Data) {
        let path = prefix + "/services/" + id.addingPercentEncodingForHost()
        let body = Data(try await send(makeRequest(path), path: path, timeout: .seconds(10), expecting: [.ok]).readableBytesView)
        do {
            struct Versioned: Decodable { var Version: Docker.ObjectVersion }
            return (try JSONDecoder().decode(Versioned.self, from: body).Version.Index, body)
        } catch {
            throw Self.decodingError(error, path: path)
        }
    }

    /// `POST /services/{id}/update?version=N` with a whole spec; the engine refuses it when the service changed
    /// since version N was read ("update out of sequence").
    public func updateService(prefix: String, id: String, version: UInt64, spec: Data) async throws {
        let path = prefix + "/services/" + id.addingPercentEncodingForHost() + "/update?version=\(version)"
        var request = makeRequest(path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: spec))
        _ = try await send(request, path: path, timeout: .seconds(30), expecting: [.ok])
    }

    /// `GET /events` filtered to `types`, as a stream of decoded events; ends when the engine closes it.
    public func events(prefix: String, types: [String]) async throws -> AsyncThrowingStream<Docker.Event, Error> {
        let path = prefix + "/events?filters=" + Self.encodeFilters(["type": types])
        let request = makeRequest(path)
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, deadline: .distantFuture)
        } catch {
            throw DockerError.unreachable(endpoint: endpoint.description, underlying: "\(error)")
        }
        guard response.status == .ok else {
            let body = try? await response.body.collect(upTo: 64 * 1024)
            throw DockerError.status(path: path, code: response.status.code, message: body.map { String(buffer: $0) } ?? "")
        }
        let body = response.body
        return AsyncThrowingStream { continuation in
            let task = Task {
                var pending = ByteBuffer()
                let decoder = JSONDecoder()
                do {
                    for try await chunk in body {
                        var chunk = chunk
                        pending.writeBuffer(&chunk)
                        // The engine writes one JSON object per line.
                        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                            let length = newline - pending.readerIndex
                            let line = pending.readSlice(length: length)!
                            pending.moveReaderIndex(forwardBy: 1)
                            guard line.readableBytes > 0 else { continue }
                            do {
                                continuation.yield(try decoder.decode(Docker.Event.self, from: Data(line.readableBytesView)))
                            } catch {
                                throw Self.decodingError(error, path: path)
                            }
                        }
                        pending.discardReadBytes()
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func makeRequest(_ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: base + path)
        // The engine rejects HTTP/1.1 requests without Host; a unix socket URL has none of its own.
        if case .unixSocket = endpoint.transport { request.headers.replaceOrAdd(name: "Host", value: "docker") }
        return request
    }

    private func get<T: Decodable>(_ path: String, prefix: String, timeout: TimeAmount = .seconds(10)) async throws -> T {
        let full = prefix + path
        let body = try await send(makeRequest(full), path: full, timeout: timeout, expecting: [.ok])
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw Self.decodingError(error, path: full)
        }
    }

    /// Sends `request`; the body of a response whose status is one of `expecting`, else `DockerError.status`.
    private func send(_ request: HTTPClientRequest, path: String, timeout: TimeAmount,
                      expecting: Set<HTTPResponseStatus>) async throws -> ByteBuffer {
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout)
            body = try await response.body.collect(upTo: 64 * 1024 * 1024)
        } catch {
            throw DockerError.unreachable(endpoint: endpoint.description, underlying: "\(error)")
        }
        guard expecting.contains(response.status) else {
            throw DockerError.status(path: path, code: response.status.code, message: String(buffer: body))
        }
        return body
    }

    /// A decoding error that names the field, e.g. `[2].Spec.Name`.
    public static func decodingError(_ error: Error, path: String) -> DockerError {
        func field(_ codingPath: [CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingPrefix(".")
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return .decoding(path: path, field: field(context.codingPath + [key]), reason: "missing")
        case DecodingError.typeMismatch(let type, let context):
            return .decoding(path: path, field: field(context.codingPath), reason: "expected \(type)")
        case DecodingError.valueNotFound(let type, let context):
            return .decoding(path: path, field: field(context.codingPath), reason: "null where \(type) was expected")
        case DecodingError.dataCorrupted(let context):
            return .decoding(path: path, field: field(context.codingPath), reason: context.debugDescription)
        default:
            return .decoding(path: path, field: "(body)", reason: "\(error)")
        }
    }

    static func encodeFilters(_ filters: [String: [String]]) -> String {
        let json = "{" + filters.sorted { $0.key < $1.key }.map { key, values in
            "\"\(key)\":[" + values.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        }.joined(separator: ",") + "}"
        return json.addingPercentEncodingForHost()
    }
}

extension String {
    fileprivate func trimmingPrefix(_ prefix: String) -> String {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
    }
}
