import ArgumentParser
import LabelConfig
import Logging
import NIOCore
import NIOPosix
import Providers
import ProxyCore
import RouteModel
import ServiceLifecycle

/// The `pier` command line: wiring only; behaviour lives in the libraries.
@main
struct Pier: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pier",
        abstract: "A layer 7 router for Docker Swarm that speaks Interlock's com.docker.lb.* labels.",
        subcommands: [Serve.self, Check.self, Routes.self, Demo.self, Version.self]
    )
}

struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Flag(help: "Do not write an access log line per request.")
    var noAccessLog = false

    func bootstrap() -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "pier")
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve traffic with the routes of a configuration file (watched for changes).")

    @Option(name: .shortAndLong, help: "The TOML configuration file.")
    var config: String

    @Option(help: "Time in-flight requests get to finish on SIGTERM/SIGINT, in seconds.")
    var grace: Int = 10

    @Option(help: "Event loop threads (default: one per core).")
    var threads: Int = System.coreCount

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap()
        let (parsed, issues) = FileProvider.load(path: config)
        guard var configuration = parsed else {
            for issue in issues { logger.error("\(issue)") }
            throw ExitCode(1)
        }
        if logging.noAccessLog { configuration.settings.accessLog = false }
        let result = configuration.builder.build(configuration.services, generation: 1)
        for issue in issues + result.issues {
            if issue.severity == .error { logger.error("\(issue)") } else { logger.warning("\(issue)") }
        }
        let tables = RouteTableBox(result.table)
        logger.info("routes loaded", metadata: ["generation": "1", "routes": "\(result.table.routes.count)"])
        let noAccessLog = logging.noAccessLog
        let provider = FileProvider(
            path: config, initial: configuration,
            adjust: { if noAccessLog { $0.settings.accessLog = false } },
            logger: logger
        ) { table, _ in
            tables.publish(table)
        }
        try await serve(
            host: configuration.httpHost, port: configuration.httpPort, grace: grace, threads: max(1, threads),
            tables: tables, extra: [provider], logger: logger)
    }
}

/// Runs the entrypoint and the given services until SIGTERM or SIGINT, then drains.
func serve(host: String, port: Int, grace: Int, threads: Int = System.coreCount, tables: RouteTableBox,
           extra: [any Service], logger: Logger, onStart: (@Sendable (Int) async -> Void)? = nil) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    let server = ProxyServer(
        configuration: .init(host: host, port: port, gracePeriod: .seconds(grace)),
        group: group, tables: tables, logger: logger)
    try await server.start()
    if let onStart { await onStart(try await server.localAddress.port ?? port) }
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: server)]
    services += extra.map { .init(service: $0) }
    let group2 = ServiceGroup(configuration: .init(
        services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
    try await group2.run()
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
        let result = configuration.builder.build(configuration.services)
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
    static let configuration = CommandConfiguration(abstract: "Print the route table a configuration file compiles to.")

    @Option(name: .shortAndLong, help: "The TOML configuration file.")
    var config: String

    func run() async throws {
        let (parsed, issues) = FileProvider.load(path: config)
        guard let configuration = parsed else {
            for issue in issues { print(issue) }
            throw ExitCode(1)
        }
        let result = configuration.builder.build(configuration.services)
        print(RouteTablePrinter.render(result.table), terminator: "")
        let errors = (issues + result.issues).filter { $0.severity == .error }.count
        if errors > 0 { print("\n\(errors) error\(errors == 1 ? "" : "s"): run pier check for details") }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print Pier's version.")
    func run() { print(PierVersion.serverInfo) }
}
