import Foundation

/// Where the admin entrypoint listens and whether it wants a token.
public struct AdminConfiguration: Sendable, Equatable {
    /// The default address of every role: loopback, so that nothing outside the host (or container) sees it.
    public static let defaultAddress = "127.0.0.1:8081"

    public var host: String
    /// Port 0 asks the system for a free port (tests; the log line `admin listening` says which).
    public var port: Int
    /// The bearer token the data pages want, if any.
    public var token: String?

    /// Creates a configuration.
    public init(host: String, port: Int, token: String? = nil) {
        self.host = host
        self.port = port
        self.token = token
    }

    /// Reads a token file (a Docker secret): its content without surrounding whitespace; an empty file or one
    /// that cannot be read is an error, so that a typo never leaves the entrypoint open by mistake.
    public static func readToken(path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenError(path: path, reason: "cannot read it") }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw TokenError(path: path, reason: "it is empty") }
        guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw TokenError(path: path, reason: "a token is one line of printable ASCII without spaces")
        }
        return token
    }

    /// Why a token file is unusable.
    public struct TokenError: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "admin token file \(path): \(reason)" }
    }
}
