import Admin
import ArgumentParser
import Foundation
import Providers

/// The admin entrypoint's options, shared by `serve`, `controller` and `proxy`.
struct AdminOptions: ParsableArguments {
    @Option(help: "The admin entrypoint (/healthz, /readyz, /api/status, /metrics, /dashboard) address:port, or none; default $PIER_ADMIN, else [Entrypoints] Admin, else 127.0.0.1:8081.")
    var admin: String?

    @Option(help: "File holding the bearer token the admin entrypoint's status, routes and metrics require (default: [Config] AdminTokenFile; without one they are open).")
    var adminTokenFile: String?

    /// `--admin`, else `$PIER_ADMIN`: nil when neither is given, `""` for none.
    func override() throws -> (host: String, port: Int)?? {
        guard let text = admin ?? ClusterOptions.environment("PIER_ADMIN") else { return nil }
        if text == "none" || text.isEmpty { return .some(nil) }
        guard let address = StandaloneConfiguration.parseListenAddress(text) else {
            throw ValidationError("--admin must be address:port or none")
        }
        return .some(address)
    }

    /// Applies `--admin`/`$PIER_ADMIN` and `--admin-token-file` to a configuration read from a file.
    func apply(to configuration: inout StandaloneConfiguration) throws {
        Self.apply(try override(), tokenFile: adminTokenFile, to: &configuration)
    }

    /// Applies an `override()` and a token file (values a reload's adjustment can capture).
    static func apply(_ override: (host: String, port: Int)??, tokenFile: String?, to configuration: inout StandaloneConfiguration) {
        if let address = override {
            configuration.adminHost = address?.host
            if let address { configuration.adminPort = address.port }
        }
        if let tokenFile { configuration.adminTokenFile = tokenFile }
    }

    /// The admin entrypoint `configuration` asks for (after `apply`), token read; nil when it is off.
    func resolve(_ configuration: StandaloneConfiguration) throws -> AdminConfiguration? {
        guard let host = configuration.adminHost else { return nil }
        let token = try Self.token(file: configuration.adminTokenFile)
        return AdminConfiguration(host: host, port: configuration.adminPort, token: token)
    }

    /// The bearer token in `file` (nil: no token); an unreadable or empty file is a usage error.
    static func token(file: String?) throws -> String? {
        try file.map { path in
            do { return try AdminConfiguration.readToken(path: path) } catch { throw ValidationError("\(error)") }
        }
    }

    /// For roles without a configuration file (a proxy): the options and the defaults only.
    func resolve() throws -> AdminConfiguration? {
        var configuration = StandaloneConfiguration()
        try apply(to: &configuration)
        return try resolve(configuration)
    }

    /// The bind error's advice.
    static let hint = "choose another address with --admin ADDR:PORT ([Entrypoints] Admin), or --admin none for no admin entrypoint"
}
