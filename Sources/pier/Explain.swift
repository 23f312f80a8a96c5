import Admin
import ArgumentParser
import DockerEngine
import Foundation
import LabelConfig
import Providers
import RouteModel

/// `pier explain`: which route a request takes and why, what Pier does with it, and the near misses.
/// Wiring only: the analysis is `Explainer` (LabelConfig), the text `ExplanationPrinter`.
struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain which route a request takes and why, what Pier does with it, and why other routes and services do not take it.",
        discussion: """
            Examples:
              pier explain -c pier.toml http://app.example.com/api/users
              pier explain -c pier.toml https://app.example.com/ --sni other.example.com
              pier explain --docker --host app.example.com --path /api --method POST --json
              pier explain --admin 127.0.0.1:8081 --admin-token-file token http://app.example.com/
            Sources: a configuration file (-c), a Docker Engine (--docker), or a live Pier's admin entrypoint (--admin:
            its latest table, with endpoint health as its data plane sees it).
            Exit status: 0 when the request was explained (whatever the outcome), 1 when the source could not be read
            (an admin entrypoint unreachable, refusing the token or not ready).
            """)

    @Argument(help: "The request's URL: http(s)://host[:port]/path?query (https: the HTTPS entrypoint, SNI = host).")
    var url: String?

    @Option(help: "The request method.")
    var method: String = "GET"

    @Option(help: "The Host header (replaces the URL's host).")
    var host: String?

    @Option(help: "The path and query (replaces the URL's).")
    var path: String?

    @Flag(help: "The request arrives on the HTTPS entrypoint.")
    var https = false

    @Option(help: "The TLS server name the client sends (HTTPS; default: the host without its port; \"\" for none).")
    var sni: String?

    @Flag(help: "Print the explanation as JSON.")
    var json = false

    @Option(name: .shortAndLong, help: "The TOML configuration file (with --docker: settings and certificates only).")
    var config: String?

    @OptionGroup var dockerOptions: DockerOptions

    @Option(help: "Ask a live Pier's admin entrypoint (address:port) instead of reading a configuration.")
    var admin: String?

    @Option(help: "File holding the admin entrypoint's bearer token, when it wants one (with --admin).")
    var adminTokenFile: String?

    func validate() throws {
        if admin != nil {
            if config != nil || dockerOptions.enabled { throw ValidationError("--admin asks a live Pier: give no --config or --docker with it") }
            _ = try Health.address(admin)
        } else if adminTokenFile != nil {
            throw ValidationError("--admin-token-file goes with --admin")
        }
        if config == nil, !dockerOptions.enabled, admin == nil { throw ValidationError("give --config FILE, --docker or --admin ADDR:PORT") }
        if url == nil, host == nil { throw ValidationError("give a URL (http://host/path) or --host") }
        if let url, ExplainRequest(url: url) == nil {
            throw ValidationError("\"\(url)\" is not an http:// or https:// URL with a host")
        }
        if method.isEmpty || !method.allSatisfy({ $0.isLetter || $0 == "-" }) { throw ValidationError("--method must be a method name such as GET") }
    }

    /// The request the options describe; `httpsPort` is the HTTPS entrypoint's (for redirects to HTTPS).
    func makeRequest(httpsPort: Int?) -> ExplainRequest {
        let method = self.method.uppercased()
        let base = url.flatMap { ExplainRequest(url: $0, method: method, httpsPort: httpsPort) }
            ?? ExplainRequest(method: method, host: host ?? "", httpsPort: httpsPort)
        return base.replacing(host: host, path: path, https: https, serverName: sni)
    }

    func run() async throws {
        let explanation = try await admin != nil ? explainLive() : explainLocally()
        print(json ? ExplainQuery.json(explanation) : ExplanationPrinter.render(explanation), terminator: json ? "\n" : "")
    }

    /// The live Pier's answer to `/api/explain` for these options (its own HTTPS port, health and table).
    func explainLive() async throws -> Explanation {
        let address = try Health.address(admin)
        let token = try AdminOptions.token(file: adminTokenFile)
        let query = ExplainQuery.encode(url: url, method: method.uppercased(), host: host, path: path, https: https, sni: sni)
        let (status, body) = await AdminProbe.get(host: address.host, port: address.port, path: "/api/explain?" + query, token: token,
                                                   timeout: .seconds(5))
        guard status == 200 else {
            print("error: \(body.trimmingCharacters(in: .whitespacesAndNewlines))")
            throw ExitCode(1)
        }
        do { return try ExplainQuery.decode(body) } catch {
            print("error: \(address.host):\(address.port) answered something other than an explanation: \(error)")
            throw ExitCode(1)
        }
    }

    /// The explanation of a configuration file or a Docker Engine's snapshot, compiled here.
    func explainLocally() async throws -> Explanation {
        var configuration = StandaloneConfiguration()
        if let config {
            let (parsed, found) = FileProvider.load(path: config, servicesIgnored: dockerOptions.enabled)
            guard let loaded = parsed else {
                for issue in found { print(issue) }
                throw ExitCode(1)
            }
            configuration = loaded
        }
        // The sources compile locally, as `pier routes` does; a live Pier answers with an encoded `Explanation`.
        let build = try await dockerOptions.compileOnce(configuration)
        let request = makeRequest(httpsPort: configuration.httpsHost == nil ? nil : configuration.httpsPort)
        return Explainer.explain(request, table: build.result.table, inputs: build.inputs,
                                 statuses: build.result.statuses, issues: build.result.issues)
    }
}
