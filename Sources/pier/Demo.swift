import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOPosix
import Providers
import Publishing
import ProxyCore
import RouteModel

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start demo backends and Pier in front of them on the embedded default configuration.")

    @Option(help: "Port of the HTTP entrypoint.")
    var port: Int = 8080

    @Flag(help: "Also print the configuration the running demo serves, with its backends' real ports (while the demo runs: usable as is with pier check and routes, and with pier serve --http on another address).")
    var printConfig = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        try logging.validateLevel()
    }

    func run() async throws {
        let backendGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var backends: [String: DemoBackend] = [:]
        for name in ["web-v1", "web-v2", "api", "fallback"] {
            backends[name] = try await DemoBackend.start(name: name, group: backendGroup)
        }
        // The backends take free ports, known only once they run: the configuration is printed from the
        // running demo, never guessed beforehand.
        let ports = backends.mapValues(\.port)
        let text = EmbeddedDefault.configuration(port: port, ports: ports)
        let logger = logging.bootstrap()
        let (parsed, issues) = ConfigFileParser.parse(text)
        guard var config = parsed else {
            for issue in issues { logger.report(issue) }
            throw ExitCode(1)
        }
        if logging.noAccessLog { config.settings.accessLog = false }
        let result = config.builder(certificates: nil).build(config.services)
        for issue in result.issues { logger.report(issue) }
        let tables = RouteTableBox(result.table)
        let printConfig = self.printConfig
        try await serve(
            host: config.httpHost, port: config.httpPort, https: config.httpsHost.map { ($0, config.httpsPort) }, grace: 2,
            tables: tables, extra: [], logger: logger,
            bindHint: { _ in "choose another port with --port N" }
        ) { port in
            if printConfig { print(EmbeddedDefault.configuration(port: port, ports: ports)) }
            print(EmbeddedDefault.instructions(port: port))
            fflush(nil)
        }
        for backend in backends.values { await backend.stop() }
        try await backendGroup.shutdownGracefully()
    }
}

/// The embedded default configuration `pier demo` runs.
enum EmbeddedDefault {
    static func configuration(port: Int, ports: [String: Int]) -> String {
        """
        # Pier demo configuration: four local backends behind host and path routes. The backends' ports are
        # those of the demo that printed it: it works while that demo runs.
        [Entrypoints]
        HTTP = "127.0.0.1:\(port)"
        HTTPS = ""    # plain HTTP only; without this line Pier opens HTTPS on 0.0.0.0:8443

        [Config]
        KeepaliveTimeout = "75s"
        ClientMaxBodySize = "32m"

        # Canary: web-v1 and web-v2 share app.example.org; traffic splits by endpoint count (2:1).
        [[Services]]
        Name = "web-v1"
        Endpoints = ["127.0.0.1:\(ports["web-v1"]!)", "127.0.0.1:\(ports["web-v1"]!)"]
        [Services.Labels]
        "com.docker.lb.hosts" = "app.example.org,old.example.org"
        "com.docker.lb.redirects" = "http://old.example.org,http://app.example.org"

        [[Services]]
        Name = "web-v2"
        Endpoints = ["127.0.0.1:\(ports["web-v2"]!)"]
        [Services.Labels]
        "com.docker.lb.hosts" = "app.example.org"

        # A context root with rewrite: /api/users reaches the backend as /users.
        [[Services]]
        Name = "api"
        Endpoints = ["127.0.0.1"]
        [Services.Labels]
        "com.docker.lb.hosts" = "app.example.org,*.api.example.org"
        "com.docker.lb.port" = "\(ports["api"]!)"
        "com.docker.lb.context_root" = "/api"
        "com.docker.lb.context_root_rewrite" = "true"

        # Takes every host no other service claims.
        [[Services]]
        Name = "fallback"
        Endpoints = ["127.0.0.1:\(ports["fallback"]!)"]
        [Services.Labels]
        "com.docker.lb.default_backend" = "true"
        """
    }

    static func instructions(port: Int) -> String {
        let base = "http://127.0.0.1:\(port)"
        return """

        Pier demo is routing on \(base) — try:

          curl -H 'Host: app.example.org' \(base)/             # web-v1 or web-v2 (canary, 2:1)
          curl -H 'Host: app.example.org' \(base)/api/users    # api, sees /users (context root rewrite)
          curl -i -H 'Host: app.example.org' \(base)/api       # 301 to /api/
          curl -H 'Host: eu.api.example.org' \(base)/api/x     # wildcard host *.api.example.org
          curl -i -H 'Host: old.example.org' '\(base)/p?q=1'   # 302 to http://app.example.org/p?q=1
          curl -H 'Host: unknown.example.org' \(base)/         # default backend: fallback

        Press Ctrl-C to stop.
        """
    }
}
