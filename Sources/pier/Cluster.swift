import Admin
import ArgumentParser
import ControlPlane
import Credentials
import DockerEngine
import Foundation
import LabelConfig
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import Providers
import ProxyCore
import RouteModel
import Publishing
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Options both cluster roles share: who this task is, where its credentials are.
struct ClusterOptions: ParsableArguments {
    @Option(help: "Folder holding pier-ca.crt and this role's certificate and key (Swarm mounts secrets here).")
    var credentials: String = CredentialFiles.defaultDirectory

    @Option(help: "This task's name in logs and status (default: $PIER_TASK_NAME / $PIER_PROXY_NAME, else the host name).")
    var name: String?

    @Option(help: "This task's node (default: $PIER_NODE, else the host name).")
    var node: String?

    static func environment(_ key: String) -> String? {
        ProcessInfo.processInfo.environment[key].flatMap { $0.isEmpty ? nil : $0 }
    }

    func taskName(_ variable: String) -> String { name ?? Self.environment(variable) ?? ProcessInfo.processInfo.hostName }
    var nodeName: String { node ?? Self.environment("PIER_NODE") ?? ProcessInfo.processInfo.hostName }

    /// Loads this role's credentials and makes its TLS context; a problem is one clear line and exit 1.
    func load(_ role: CredentialRole, logger: Logger) throws -> (CredentialFiles, NIOSSLContext) {
        do {
            let files = try CredentialFiles(role: role, directory: credentials)
            files.logExpiryWarnings(logger)
            let configuration = role == .controller ? files.serverConfiguration() : files.clientConfiguration()
            return (files, try NIOSSLContext(configuration: configuration))
        } catch {
            logger.error("cannot load the \(role) credentials: \(error); create them with `pier ca init` (docs/credentials.md)")
            throw ExitCode(1)
        }
    }
}

/// Turns off core dumps: the process holds private keys. (`prctl(PR_SET_DUMPABLE)` would also stop
/// same-user ptrace, but Swift cannot call that variadic C function without a C shim.)
func protectKeyMaterial() {
    #if canImport(Glibc)
    var none = rlimit(rlim_cur: 0, rlim_max: 0)
    _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
    #endif
}

struct Controller: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a controller: read the Docker Engine (or a configuration file), compile route tables, serve them to proxies over mutual TLS.")

    @Option(help: "The control channel's address:port.")
    var listen: String = "0.0.0.0:7443"

    @Option(name: .shortAndLong, help: "TOML configuration file: settings (with --docker) or settings and services.")
    var config: String?

    @OptionGroup var dockerOptions: DockerOptions
    @OptionGroup var upkeep: UpkeepOptions
    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var adminOptions: AdminOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if config == nil, !dockerOptions.enabled { throw ValidationError("give --docker (or --config FILE for a file of services)") }
        if StandaloneConfiguration.parseListenAddress(listen) == nil { throw ValidationError("--listen must be address:port") }
        _ = try adminOptions.override()
        try logging.validateLevel()
    }

    func run() async throws {
        let logger = logging.bootstrap()
        protectKeyMaterial()
        var configuration = StandaloneConfiguration()
        var issues: [RouteIssue] = []
        if let config {
            let (parsed, found) = FileProvider.load(path: config, servicesIgnored: dockerOptions.enabled)
            guard let loaded = parsed else {
                for issue in found { logger.report(issue) }
                throw ExitCode(1)
            }
            configuration = loaded
            issues = found
        }
        try adminOptions.apply(to: &configuration)
        let admin = try adminOptions.resolve(configuration)
        let (_, tls) = try cluster.load(.controller, logger: logger)
        let name = cluster.taskName("PIER_TASK_NAME")
        let registry = PrometheusCollectorRegistry()
        let publisher = Publisher(logger: logger, metrics: AdminMetrics.factory(registry: registry))
        // A controller's labels may not name its own credentials, nor may a file of services.
        let certificates = CertificateFiles(directory: configuration.secretsDirectory, allowsPaths: !dockerOptions.enabled,
                                            reservedNames: CredentialFiles.reservedFileNames)
        let source: any Service
        var cleanup: (@Sendable () async -> Void)?
        if dockerOptions.enabled {
            for issue in issues { logger.report(issue) }
            let client = try DockerClient(endpoint: try dockerOptions.endpoint())
            cleanup = { await client.shutdown() }
            var providerConfiguration = dockerOptions.providerConfiguration(configuration)
            providerConfiguration.certificates = certificates
            providerConfiguration.upkeep = upkeep.settings(logger: logger)
            logger.info("watching Docker Engine", metadata: ["endpoint": "\(client.endpoint)", "cluster": "\(providerConfiguration.serviceCluster)"])
            source = SwarmProvider(client: client, configuration: providerConfiguration, logger: logger, publisher: publisher)
        } else {
            let file = FileProvider(path: config!, initial: configuration, issues: issues, certificates: certificates,
                                    logger: logger, publisher: publisher)
            file.publishInitial()
            source = file
        }
        let address = StandaloneConfiguration.parseListenAddress(listen)!
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = ControlServer(
            configuration: .init(host: address.host, port: address.port,
                                 identity: .init(controller: name, node: cluster.nodeName, pier: PierVersion.serverInfo)),
            tls: tls, group: group, publisher: publisher, logger: logger)
        var services: [any Service] = [server, source]
        if let admin {
            var sources = AdminSources(role: .controller, version: PierVersion.serverInfo, name: name, publisher: publisher)
            sources.registry = registry
            sources.proxies = { server.subscribers }
            sources.snapshotVersion = { server.version }
            services.append(AdminServer(configuration: admin, sources: sources, group: group, logger: logger))
        }
        let serviceGroup = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
        do {
            try await serviceGroup.run()
        } catch let failure as AdminServer.BindError {
            logger.error("\(failure); \(AdminOptions.hint)")
            await cleanup?()
            try await group.shutdownGracefully()
            throw ExitCode(1)
        }
        await cleanup?()
        try await group.shutdownGracefully()
    }
}

struct Proxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a proxy: serve traffic with the tables a controller sends; no Docker socket, no Docker client.")

    @Option(help: "Controllers, address:port, comma-separated (a name resolving to every controller task, in a stack).")
    var controller: String = "controller:7443"

    @Option(help: "HTTP entrypoint address:port.")
    var http: String = "0.0.0.0:8080"

    @Option(help: "HTTPS entrypoint address:port, or none.")
    var https: String = "0.0.0.0:8443"

    @Option(help: "The state file (last table applied, encrypted with the proxy's key), or none.")
    var state: String = "/var/lib/pier/proxy.state"

    @Option(help: "Seconds between SIGTERM and closing the entrypoints (/ready fails meanwhile, for load balancers).")
    var shutdownDelay: Int = 5

    @Option(help: "Time in-flight requests get to finish after that, in seconds.")
    var grace: Int = 25

    @Option(help: "Event loop threads (default: one per core).")
    var threads: Int?

    @OptionGroup var dataPlane: DataPlaneOptions

    @OptionGroup var cluster: ClusterOptions
    @OptionGroup var adminOptions: AdminOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        _ = try adminOptions.override()
        if StandaloneConfiguration.parseListenAddress(http) == nil { throw ValidationError("--http must be address:port") }
        if https != "none", StandaloneConfiguration.parseListenAddress(https) == nil { throw ValidationError("--https must be address:port or none") }
        if controllers() == nil { throw ValidationError("--controller must be host:port[,host:port…]") }
        try logging.validateLevel()
    }

    func controllers() -> [(host: String, port: Int)]? {
        let list = controller.split(separator: ",").map { ServiceDescription.Address(parsing: String($0)) }
        guard !list.isEmpty, list.allSatisfy({ $0?.port != nil }) else { return nil }
        return list.map { ($0!.host, $0!.port!) }
    }

    func run() async throws {
        let logger = logging.bootstrap()
        protectKeyMaterial()
        let (credentials, tls) = try cluster.load(.proxy, logger: logger)
        let stateKey = StateKey(credentials: credentials)
        let name = cluster.taskName("PIER_PROXY_NAME")
        let noAccessLog = logging.noAccessLog
        let admin = try adminOptions.resolve()
        let registry = PrometheusCollectorRegistry()
        let publisher = Publisher(logger: logger, metrics: AdminMetrics.factory(registry: registry))
        let tables = RouteTableBox()
        publisher.subscribe { tables.publish($0.table) }
        let statePath = state == "none" ? nil : state
        var configuration = ControlClient.Configuration(controllers: controllers()!, name: name, node: cluster.nodeName)
        configuration.pier = PierVersion.serverInfo
        let client = ControlClient(configuration: configuration, tls: tls, group: MultiThreadedEventLoopGroup.singleton,
                                   publisher: publisher, adjust: { inputs in
                                       // This proxy's own: its name in Via/X-Served-By-like headers, its access log.
                                       inputs.settings.proxyID = name
                                       if noAccessLog { inputs.settings.accessLog = false }
                                   }, persist: { received in
                                       guard let statePath else { return }
                                       let record = PersistedSnapshot(version: received.version, controller: received.controller,
                                                                      savedAt: Date().timeIntervalSince1970, payload: received.payload)
                                       do {
                                           try StateFile.write(path: statePath, bytes: try stateKey.seal(record.encoded()))
                                       } catch {
                                           logger.warning("cannot write the state file", metadata: ["path": "\(statePath)", "error": "\(error)"])
                                       }
                                   }, logger: logger)
        if let statePath { loadState(statePath, key: stateKey, client: client, logger: logger) }
        let draining = SetOnceFlag()
        var sources = AdminSources(role: .proxy, version: PierVersion.serverInfo, name: name, publisher: publisher) {
            if draining.value { return "draining" }
            return publisher.latest == nil ? "no table yet: \(client.status.lastProblem ?? "waiting for a controller")" : nil
        }
        sources.registry = registry
        sources.snapshotVersion = { client.status.version }
        sources.controllerLink = {
            let status = client.status
            return StatusDocument.ControllerLink(name: status.controller, address: status.address, problem: status.lastProblem)
        }
        var extra: [any Service] = [client]
        extra.append(ShutdownDelay(delay: .seconds(shutdownDelay), draining: draining, logger: logger))
        let httpAddress = StandaloneConfiguration.parseListenAddress(http)!
        let httpsAddress = https == "none" ? nil : StandaloneConfiguration.parseListenAddress(https)
        try await serve(host: httpAddress.host, port: httpAddress.port, https: httpsAddress, grace: grace,
                        threads: threads ?? System.coreCount, http1: dataPlane.http1, tables: tables, admin: admin.map { ($0, sources) },
                        extra: extra, logger: logger) { failure in
            failure.entrypoint == "HTTPS" ? "choose another address with --https ADDR:PORT" : "choose another address with --http ADDR:PORT"
        }
    }

    /// Serves the persisted table, if there is a usable one: a proxy that starts while no controller is
    /// reachable has something to serve.
    func loadState(_ path: String, key: StateKey, client: ControlClient, logger: Logger) {
        do {
            guard let sealed = try StateFile.read(path: path) else {
                logger.info("no state file yet", metadata: ["path": "\(path)"])
                return
            }
            let record = try PersistedSnapshot(decoding: try key.open(sealed))
            if case .ack = client.apply(version: record.version, payload: record.payload, from: "state file") {
                logger.info("serving persisted table", metadata: [
                    "version": "\(record.version)", "controller": "\(record.controller)",
                    "saved": "\(Date(timeIntervalSince1970: record.savedAt))"])
            }
        } catch {
            logger.warning("state file ignored", metadata: ["path": "\(path)", "reason": "\(error)"])
        }
    }
}

/// A flag set once (SIGTERM received, entrypoints listening), read from any thread: a mutex, not an atomic.
final class SetOnceFlag: Sendable {
    private let box = Mutex(false)
    var value: Bool { box.withLock { $0 } }
    func set() { box.withLock { $0 = true } }
}

/// Holds shutdown for `delay` after SIGTERM with the readiness flag set, before the entrypoints stop taking
/// connections (services stop in reverse order: this one, listed last, first).
struct ShutdownDelay: Service {
    let delay: Duration
    let draining: SetOnceFlag
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        draining.set()
        guard delay > .zero else { return }
        logger.info("draining: not ready; entrypoints close in \(delay)")
        try? await Task.sleep(for: delay)
    }
}
