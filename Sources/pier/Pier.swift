import Admin
import ArgumentParser
import DockerEngine
import Foundation
import LabelConfig
import Logging
import NIOCore
import NIOPosix
import Prometheus
import Providers
import Publishing
import ProxyCore
import RouteModel
import ServiceLifecycle

/// The `pier` command line: wiring only; behaviour lives in the libraries.
@main
struct Pier: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pier",
        abstract: "A layer 7 router for Docker Swarm that speaks Interlock's com.docker.lb.* labels.",
        version: PierVersion.serverInfo,
        subcommands: [Serve.self, Controller.self, Proxy.self, Health.self, StatusCommand.self, Check.self, Routes.self, Explain.self, Demo.self, CA.self, Version.self]
    )
}

struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Flag(help: "Do not write an access log line per request.")
    var noAccessLog = false

    @Option(help: "Log line format: text (time level message key=value…) or json (one object per line).")
    var logFormat: LogFormat = .text

    func validateLevel() throws {
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func bootstrap() -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = logFormat
        LoggingSystem.bootstrap { _ in PierLogHandler(logLevel: level, format: format) }
        return Logger(label: "pier")
    }
}

extension DockerOptions {
    /// One table, compiled once: from one read of the engine with `--docker`, else from the file's services.
    /// An unreachable engine is printed and exits 1. (`pier routes`, `pier explain`.)
    func compileOnce(_ configuration: StandaloneConfiguration) async throws -> (inputs: BuildInputs, result: RouteTableBuilder.Result) {
        guard enabled else {
            return configuration.builder(certificates: configuration.makeCertificateFiles()).buildWithInputs(configuration.services)
        }
        let client = try DockerClient(endpoint: try endpoint())
        do {
            let snapshot = try await SwarmProvider.snapshot(client: client, configuration: providerConfiguration(configuration))
            await client.shutdown()
            return (snapshot.inputs, snapshot.result)
        } catch {
            await client.shutdown()
            print("error: \(error)")
            throw ExitCode(1)
        }
    }
}

struct DockerOptions: ParsableArguments {
    @Flag(help: "Route the services of a Docker Engine in Swarm mode (labels com.docker.lb.*).")
    var docker = false

    @Option(help: "Docker Engine endpoint (unix:///path, tcp://host:port, https://…); default: $DOCKER_HOST or unix:///var/run/docker.sock. Implies --docker.")
    var dockerHost: String?

    @Option(help: "Route only services of this service cluster (com.docker.lb.service_cluster).")
    var serviceCluster: String?

    @Option(help: "Full resync period with the Docker Engine, in milliseconds (Interlock's PollInterval).")
    var pollInterval: Int = 3000

    var enabled: Bool { docker || dockerHost != nil }

    func endpoint() throws -> DockerEndpoint {
        let environment = ProcessInfo.processInfo.environment
        if let dockerHost { return try DockerEndpoint(parsing: dockerHost, environment: environment) }
        return try DockerEndpoint.fromEnvironment(environment)
    }

    func providerConfiguration(_ standalone: StandaloneConfiguration) -> SwarmProvider.Configuration {
        let settings = standalone.settings, cluster = standalone.serviceCluster
        var configuration = SwarmProvider.Configuration()
        configuration.certificates = CertificateFiles(directory: standalone.secretsDirectory, allowsPaths: false)
        configuration.defaultCertificate = standalone.defaultCertificate
        configuration.pollInterval = .milliseconds(max(100, pollInterval))
        configuration.serviceCluster = serviceCluster ?? cluster
        configuration.settings = settings
        return configuration
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve traffic: routes from a configuration file (watched for changes) or from a Docker Swarm.")

    @Option(name: .shortAndLong, help: "The TOML configuration file (with --docker: entrypoints and settings only).")
    var config: String?

    @Option(help: "HTTP entrypoint address:port, overriding the configuration (port 0 picks a free one).")
    var http: String?

    @Option(help: "HTTPS entrypoint address:port, overriding the configuration (default 0.0.0.0:8443; \"none\" turns it off).")
    var https: String?

    @OptionGroup var dockerOptions: DockerOptions
    @OptionGroup var adminOptions: AdminOptions

    @Option(help: "Time in-flight requests get to finish on SIGTERM/SIGINT, in seconds.")
    var grace: Int = 10

    // Hidden: tests and benchmarks reload hundreds of times; users have no reason to poll faster than 50 ms.
    @Option(help: ArgumentHelp("How often the configuration file is checked for changes, in milliseconds.", visibility: .hidden))
    var watchInterval: Int = 50

    // Optional rather than defaulting to the core count: the help would print this machine's count as
    // the default next to "one per core".
    @Option(help: "Event loop threads (default: one per core).")
    var threads: Int?

    @OptionGroup var dataPlane: DataPlaneOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if config == nil, !dockerOptions.enabled {
            throw ValidationError("give --config FILE, or --docker to route a Docker Swarm (pier demo runs a built-in example)")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        _ = try adminOptions.override()
        if watchInterval < 1 { throw ValidationError("--watch-interval must be at least 1 (milliseconds)") }
        try logging.validateLevel()
    }

    func run() async throws {
        let logger = logging.bootstrap()
        var configuration = StandaloneConfiguration()
        var issues: [RouteIssue] = []
        if let config {
            let (parsed, found) = FileProvider.load(path: config, servicesIgnored: dockerOptions.enabled)
            issues = found
            guard let loaded = parsed else {
                for issue in issues { logger.report(issue) }
                throw ExitCode(1)
            }
            configuration = loaded
        }
        let noAccessLog = logging.noAccessLog
        let adminOverride = try adminOptions.override(), adminTokenFile = adminOptions.adminTokenFile
        let override = http.flatMap(StandaloneConfiguration.parseListenAddress)
        if http != nil, override == nil { throw ValidationError("--http must be address:port") }
        let httpsOff = https == "none" || https == ""
        let httpsOverride = httpsOff ? nil : https.flatMap(StandaloneConfiguration.parseListenAddress)
        if https != nil, !httpsOff, httpsOverride == nil { throw ValidationError("--https must be address:port or none") }
        let adjust: @Sendable (inout StandaloneConfiguration) -> Void = { config in
            if noAccessLog { config.settings.accessLog = false }
            if let override { config.httpHost = override.host; config.httpPort = override.port }
            if httpsOff { config.httpsHost = nil }
            if let httpsOverride { config.httpsHost = httpsOverride.host; config.httpsPort = httpsOverride.port }
            AdminOptions.apply(adminOverride, tokenFile: adminTokenFile, to: &config)
        }
        adjust(&configuration)
        let admin = try adminOptions.resolve(configuration)

        // The data plane is one subscriber of the publisher, which every source feeds.
        let tables = RouteTableBox(.empty(settings: configuration.settings))
        let registry = PrometheusCollectorRegistry()
        let publisher = Publisher(logger: logger, metrics: AdminMetrics.factory(registry: registry))
        publisher.subscribe { tables.publish($0.table) }
        let provider: any Service
        var cleanup: (@Sendable () async -> Void)?
        if dockerOptions.enabled {
            for issue in issues { logger.report(issue) }
            if !configuration.services.isEmpty {
                logger.warning("--docker: the services listed in the configuration file are ignored")
            }
            let client = try DockerClient(endpoint: try dockerOptions.endpoint())
            cleanup = { await client.shutdown() }
            let providerConfiguration = dockerOptions.providerConfiguration(configuration)
            logger.info("watching Docker Engine", metadata: ["endpoint": "\(client.endpoint)", "cluster": "\(providerConfiguration.serviceCluster)"])
            provider = SwarmProvider(client: client, configuration: providerConfiguration, logger: logger, publisher: publisher)
        } else {
            let file = FileProvider(path: config!, interval: .milliseconds(watchInterval), initial: configuration, issues: issues,
                                    certificates: configuration.makeCertificateFiles(), adjust: adjust, logger: logger,
                                    publisher: publisher)
            file.publishInitial()
            provider = file
        }
        // Ready once the entrypoints listen and a first table is live; not ready again from SIGTERM on.
        let listening = SetOnceFlag(), draining = SetOnceFlag()
        var sources = AdminSources(role: .serve, version: PierVersion.serverInfo, publisher: publisher) {
            draining.value ? "draining" : listening.value ? nil : "entrypoints not listening yet"
        }
        sources.registry = registry
        try await serve(
            host: configuration.httpHost, port: configuration.httpPort,
            https: configuration.httpsHost.map { ($0, configuration.httpsPort) }, grace: grace, threads: threads ?? System.coreCount,
            http1: dataPlane.http1, tables: tables, admin: admin.map { ($0, sources) },
            extra: [provider, ShutdownDelay(delay: .zero, draining: draining, logger: logger)], logger: logger,
            bindHint: { failure in
                failure.entrypoint == "HTTPS"
                    ? "choose another address with --https ADDR:PORT ([Entrypoints] HTTPS), or --https none for no HTTPS entrypoint"
                    : "choose another address with --http ADDR:PORT ([Entrypoints] HTTP)"
            }, onStart: { _ in listening.set() })
        await cleanup?()
    }
}

/// Runs the entrypoint, the admin entrypoint (when given) and the given services until SIGTERM or SIGINT, then
/// drains. An entrypoint that cannot listen is logged with its address and `bindHint`'s advice (the option that
/// moves it), and exits 1.
func serve(host: String, port: Int, https: (host: String, port: Int)?, grace: Int, threads: Int = System.coreCount,
           http1: HTTP1Implementation = .pier, tables: RouteTableBox,
           admin: (configuration: AdminConfiguration, sources: AdminSources)? = nil,
           extra: [any Service], logger: Logger, bindHint: (ProxyServer.BindError) -> String,
           onStart: (@Sendable (Int) async -> Void)? = nil) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    // Without an admin entrypoint nobody reads the counters: the data plane does not count at all.
    let server = ProxyServer(
        configuration: .init(host: host, port: port, https: https, gracePeriod: .seconds(grace), metrics: admin != nil,
                              http1: http1),
        group: group, tables: tables, logger: logger)
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: server)]
    if let admin {
        var sources = admin.sources
        sources.observe(server)
        // On the data plane's loops: /healthz answering says they do.
        services.append(.init(service: AdminServer(configuration: admin.configuration, sources: sources, group: group, logger: logger)))
    }
    services += extra.map { .init(service: $0) }
    // The group traps SIGTERM and SIGINT before it starts any service, and the entrypoints bind (and log that
    // they listen) inside it: a SIGTERM right after "entrypoint listening" drains Pier instead of killing it.
    let group2 = ServiceGroup(configuration: .init(
        services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
    let announce = Task {
        if let onStart, let bound = try? await server.localAddress { await onStart(bound.port ?? port) }
    }
    do {
        try await group2.run()
    } catch let failure as ProxyServer.BindError {
        logger.error("\(failure); \(bindHint(failure))")
        try await group.shutdownGracefully()
        throw ExitCode(1)
    } catch let failure as AdminServer.BindError {
        logger.error("\(failure); \(AdminOptions.hint)")
        try await group.shutdownGracefully()
        throw ExitCode(1)
    }
    await announce.value
    try await group.shutdownGracefully()
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a configuration file: print every issue; exit 1 on errors. Starts no listener.")

    @Option(name: .shortAndLong, help: "The TOML configuration file.")
    var config: String

    func run() async throws {
        let (parsed, issues) = FileProvider.load(path: config)
        guard let configuration = parsed else {
            for issue in issues { print(issue) }
            throw ExitCode(1)
        }
        let result = configuration.builder(certificates: configuration.makeCertificateFiles()).build(configuration.services)
        let all = (issues + result.issues).sorted { $0.severity < $1.severity }
        for issue in all { print(issue) }
        for status in result.statuses { print(status) }
        let errors = all.filter { $0.severity == .error }.count
        let warnings = all.count - errors
        print("\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s"); \(result.table.routes.count) route\(result.table.routes.count == 1 ? "" : "s")")
        if errors > 0 { throw ExitCode(1) }
    }
}

struct Routes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the route table a configuration file (or a Docker Swarm) compiles to, with every service's status.")

    @Option(name: .shortAndLong, help: "The TOML configuration file.")
    var config: String?

    @OptionGroup var dockerOptions: DockerOptions

    func validate() throws {
        if config == nil, !dockerOptions.enabled { throw ValidationError("give --config FILE or --docker") }
    }

    func run() async throws {
        var configuration = StandaloneConfiguration()
        var issues: [RouteIssue] = []
        if let config {
            let (parsed, found) = FileProvider.load(path: config, servicesIgnored: dockerOptions.enabled)
            guard let loaded = parsed else {
                for issue in found { print(issue) }
                throw ExitCode(1)
            }
            configuration = loaded
            issues = found
        }
        let result = try await dockerOptions.compileOnce(configuration).result
        print(RouteTablePrinter.render(result.table), terminator: "")
        print("\nservices:")
        for status in result.statuses { print("  \(status)") }
        let all = issues + result.issues
        if !all.isEmpty {
            print("\nissues:")
            for issue in all.sorted(by: { $0.severity < $1.severity }) { print("  \(issue)") }
        }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Pier's version.")
    func run() { print(PierVersion.serverInfo) }
}
