import DockerEngine
import LabelConfig
import Logging
import Publishing
import RouteModel
import ServiceLifecycle

/// Watches a Docker Engine in Swarm mode and hands the publisher a build whenever the engine's state moved.
/// Events mark the state dirty (bursts coalesce); a periodic resync catches what events miss; the event stream
/// reconnects with backoff. While the engine is unreachable nothing is built: the last good table stays live.
public final class SwarmProvider: Service, Sendable {
    /// How the provider runs.
    public struct Configuration: Sendable {
        /// Period of the full resync (Interlock's `PollInterval`).
        public var pollInterval: Duration = .seconds(3)
        /// Time events are collected before a refresh (bursts coalesce into one).
        public var debounce: Duration = .milliseconds(20)
        /// Only services of this cluster are routed.
        public var serviceCluster: String = ""
        /// Proxy settings copied into every table.
        public var settings = ProxySettings()
        /// Reads `ssl_cert`/`ssl_key` secrets (secret names only: a label may not name a file path).
        public var certificates = CertificateFiles(allowsPaths: false)
        /// Certificate for HTTPS clients without SNI or with an unknown name.
        public var defaultCertificate: CertificateNames?

        public init() {}
    }

    private let client: any DockerAPI
    private let configuration: Configuration
    private let logger: Logger
    private let publisher: Publisher

    /// Creates a provider reading `client` and publishing through `publisher`.
    public init(client: any DockerAPI, configuration: Configuration, logger: Logger, publisher: Publisher) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.publisher = publisher
    }

    /// Reads the engine once and compiles it (for `pier routes --docker`).
    public static func snapshot(client: any DockerAPI, configuration: Configuration) async throws -> Build {
        var cache = ParsedServiceCache()
        return compile(try await state(client: client), configuration: configuration, cache: &cache)
    }

    /// What the engine says now: the four lists a table is compiled from.
    static func state(client: any DockerAPI) async throws -> SwarmState {
        let prefix = try await client.negotiate()
        async let services = client.services(prefix: prefix)
        async let tasks = client.runningTasks(prefix: prefix)
        async let networks = client.networks(prefix: prefix)
        async let nodes = client.nodes(prefix: prefix)
        return SwarmState(services: try await services, tasks: try await tasks, networks: try await networks, nodes: try await nodes)
    }

    /// Compiles engine state into a build, with every service's status and every issue. Labels are parsed
    /// once, through `cache` (services unchanged since its previous compile are not parsed again).
    static func compile(_ state: SwarmState, configuration: Configuration, cache: inout ParsedServiceCache) -> Build {
        let described = SwarmSnapshot.describe(state, serviceCluster: configuration.serviceCluster, cache: &cache)
        let (inputs, result) = RouteTableBuilder(
            settings: configuration.settings, serviceCluster: configuration.serviceCluster,
            certificates: configuration.certificates, defaultCertificate: configuration.defaultCertificate
        ).buildWithInputs(parsed: described.services, providerIssues: described.issues, rejected: described.rejected)
        return Build(inputs: inputs, result: result)
    }

    public func run() async {
        let (triggers, trigger) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.watchEvents(trigger) }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.configuration.pollInterval)
                        trigger.yield()
                    }
                }
                group.addTask { await self.refreshLoop(triggers) }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            trigger.finish()
        }
    }

    private func refreshLoop(_ triggers: AsyncStream<Void>) async {
        var reachable: Bool?
        // What the last compiled build was made from.
        var lastState: SwarmState?
        var lastStamps: [FileStamp] = []
        // Owned by this loop alone: it holds the parses of the last compile, for the next one.
        var parses = ParsedServiceCache()
        // First build at once, then one per (coalesced) trigger.
        var first = true
        var iterator = triggers.makeAsyncIterator()
        while !Task.isCancelled {
            if !first {
                guard await iterator.next() != nil else { return }
                try? await Task.sleep(for: configuration.debounce)
            }
            first = false
            do {
                let state = try await Self.state(client: client)
                if reachable != true {
                    logger.info("Docker Engine reachable", metadata: ["endpoint": "\(client.endpointDescription)"])
                    reachable = true
                }
                // The resync every `pollInterval` mostly finds the engine as it was: then the table would come
                // out the same, so it is not compiled at all (unless a certificate file it read has moved).
                // Stamps are taken before compiling: a file that moves during the compile is seen next time.
                let stamps = configuration.certificates.watchedFiles.map(FileStamp.init(path:))
                if state == lastState, stamps == lastStamps {
                    logger.debug("engine unchanged; nothing compiled")
                    continue
                }
                lastState = state
                lastStamps = stamps
                publisher.publish(Self.compile(state, configuration: configuration, cache: &parses))
            } catch {
                if reachable != false {
                    if case DockerError.unreachable = error {
                        logger.error("Docker Engine unreachable; the last good routes stay live", metadata: ["error": "\(error)"])
                    } else {
                        logger.error("Docker Engine API failed; the last good routes stay live", metadata: ["error": "\(error)"])
                    }
                    reachable = false
                }
            }
        }
    }

    /// Follows `/events`, reconnecting with backoff; every event (and every reconnect) asks for a refresh.
    private func watchEvents(_ trigger: AsyncStream<Void>.Continuation) async {
        var backoff = Backoff()
        while !Task.isCancelled {
            do {
                let prefix = try await client.negotiate()
                let events = try await client.events(prefix: prefix, types: ["service", "container", "network", "node"])
                backoff.reset()
                trigger.yield()
                for try await event in events {
                    logger.debug("docker event", metadata: ["type": "\(event.Type ?? "")", "action": "\(event.Action ?? "")"])
                    trigger.yield()
                }
            } catch {
                logger.debug("event stream ended", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: backoff.next())
        }
    }
}
