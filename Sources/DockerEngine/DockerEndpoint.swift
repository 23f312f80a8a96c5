/// Where the Docker Engine API is, in the docker CLI's conventions: `unix:///var/run/docker.sock` (the
/// default), `tcp://host:2376`, `http://…` or `https://…`, with TLS as `DOCKER_TLS_VERIFY` and
/// `DOCKER_CERT_PATH` say.
public struct DockerEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// How to reach the engine.
    public enum Transport: Hashable, Sendable {
        case unixSocket(path: String)
        case tcp(host: String, port: Int, tls: TLSFiles?)
    }

    /// Client certificate files for a TLS engine endpoint.
    public struct TLSFiles: Hashable, Sendable {
        public var caPath: String
        public var certificatePath: String
        public var keyPath: String
        public var verify: Bool
    }

    public var transport: Transport

    /// The default engine socket.
    public static let defaultSocket = DockerEndpoint(transport: .unixSocket(path: "/var/run/docker.sock"))

    public init(transport: Transport) {
        self.transport = transport
    }

    /// Parses a `DOCKER_HOST`-style URL; `environment` supplies `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`.
    public init(parsing url: String, environment: [String: String] = [:]) throws {
        if url.hasPrefix("unix://") {
            let path = String(url.dropFirst("unix://".count))
            guard path.hasPrefix("/") else { throw DockerError.badEndpoint(url, "a unix socket path must be absolute") }
            transport = .unixSocket(path: path)
            return
        }
        var rest: Substring
        var useTLS = (environment["DOCKER_TLS_VERIFY"].map { !$0.isEmpty && $0 != "0" }) ?? false
        if url.hasPrefix("tcp://") {
            rest = url.dropFirst(6)
        } else if url.hasPrefix("http://") {
            rest = url.dropFirst(7)
            useTLS = false
        } else if url.hasPrefix("https://") {
            rest = url.dropFirst(8)
            useTLS = true
        } else {
            throw DockerError.badEndpoint(url, "use unix:///path, tcp://host:port, http:// or https://")
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
            throw DockerError.badEndpoint(url, "a TCP endpoint needs host:port")
        }
        var host = String(rest[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var tls: TLSFiles?
        if useTLS {
            let dir = environment["DOCKER_CERT_PATH"] ?? ((environment["HOME"] ?? "") + "/.docker")
            tls = TLSFiles(caPath: dir + "/ca.pem", certificatePath: dir + "/cert.pem", keyPath: dir + "/key.pem",
                           verify: environment["DOCKER_TLS_VERIFY"].map { !$0.isEmpty && $0 != "0" } ?? true)
        }
        transport = .tcp(host: host, port: port, tls: tls)
    }

    /// The endpoint the environment names (`DOCKER_HOST`), or the default socket.
    public static func fromEnvironment(_ environment: [String: String]) throws -> DockerEndpoint {
        guard let host = environment["DOCKER_HOST"], !host.isEmpty else { return .defaultSocket }
        return try DockerEndpoint(parsing: host, environment: environment)
    }

    /// The base URL for AsyncHTTPClient.
    var baseURL: String {
        switch transport {
        case .unixSocket(let path):
            return "http+unix://" + (path.addingPercentEncodingForHost())
        case .tcp(let host, let port, let tls):
            let h = host.contains(":") ? "[\(host)]" : host
            return (tls == nil ? "http://" : "https://") + "\(h):\(port)"
        }
    }

    public var description: String {
        switch transport {
        case .unixSocket(let path): return "unix://\(path)"
        case .tcp(let host, let port, let tls): return "\(tls == nil ? "tcp" : "tcp+tls")://\(host):\(port)"
        }
    }
}

extension String {
    /// Percent-encodes everything but unreserved characters, as a unix socket path in a URL host must be.
    func addingPercentEncodingForHost() -> String {
        var out = ""
        for byte in utf8 {
            let c = Character(UnicodeScalar(byte))
            if c.isASCII, c.isLetter || c.isNumber || "-._~".contains(c) {
                out.append(c)
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }

    fileprivate func leftPadded(_ n: Int) -> String {
        count >= n ? self : String(repeating: "0", count: n - count) + self
    }
}

/// Why a Docker API call failed, naming the endpoint (and the field, for decoding errors).
public enum DockerError: Error, CustomStringConvertible, Sendable {
    case badEndpoint(String, String)
    case unreachable(endpoint: String, underlying: String)
    case status(path: String, code: UInt, message: String)
    case decoding(path: String, field: String, reason: String)
    case unsupportedVersion(String)

    public var description: String {
        switch self {
        case .badEndpoint(let url, let why): return "Docker endpoint \"\(url)\": \(why)"
        case .unreachable(let endpoint, let underlying): return "Docker Engine at \(endpoint) unreachable: \(underlying)"
        case .status(let path, let code, let message): return "Docker API \(path) answered \(code): \(message)"
        case .decoding(let path, let field, let reason): return "Docker API \(path): cannot decode \(field): \(reason)"
        case .unsupportedVersion(let v): return "Docker Engine API \(v) is too old: Pier needs 1.41 or later"
        }
    }
}
