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
            Exit status: 0 when the request was explained (whatever the outcome), 1 when the source could not be read.
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

    func validate() throws {
        if config == nil, !dockerOptions.enabled { throw ValidationError("give --config FILE or --docker") }
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
        var configuration = StandaloneConfiguration()
        if let config {
            let (parsed, found) = FileProvider.load(path: config, servicesIgnored: dockerOptions.enabled)
            guard let loaded = parsed else {
                for issue in found { print(issue) }
                throw ExitCode(1)
            }
            configuration = loaded
        }
        // The sources compile locally, as `pier routes` does. A live Pier (`--admin`, once its admin entrypoint
        // serves `/api/explain`) will answer with an encoded `Explanation` instead, printed by the same code below.
        let build: (inputs: BuildInputs, result: RouteTableBuilder.Result)
        if dockerOptions.enabled {
            let client = try DockerClient(endpoint: try dockerOptions.endpoint())
            do {
                let snapshot = try await SwarmProvider.snapshot(client: client, configuration: dockerOptions.providerConfiguration(configuration))
                build = (snapshot.inputs, snapshot.result)
                await client.shutdown()
            } catch {
                await client.shutdown()
                print("error: \(error)")
                throw ExitCode(1)
            }
        } else {
            build = configuration.builder(certificates: configuration.makeCertificateFiles()).buildWithInputs(configuration.services)
        }
        let request = makeRequest(httpsPort: configuration.httpsHost == nil ? nil : configuration.httpsPort)
        let explanation = Explainer.explain(request, table: build.result.table, inputs: build.inputs,
                                            statuses: build.result.statuses, issues: build.result.issues)
        try print(json ? Self.json(explanation) : ExplanationPrinter.render(explanation), terminator: json ? "\n" : "")
    }

    /// The explanation as JSON, keys sorted (the form an admin entrypoint would serve).
    static func json(_ explanation: Explanation) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(explanation), as: UTF8.self)
    }
}
