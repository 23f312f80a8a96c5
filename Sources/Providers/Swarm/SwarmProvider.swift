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
        /// A controller's upkeep of its own secrets and the proxies' networks; nil for `pier serve` and `pier routes`.
        public var upkeep: UpkeepSettings?

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

    /// What the engine says now: the lists a table is compiled from (and the secrets, for a controller's upkeep).
    static func state(client: any DockerAPI, secrets: Bool = false) async throws -> SwarmState {
        let prefix = try await client.negotiate()
        async let services = client.services(prefix: prefix)
        async let tasks = client.runningTasks(prefix: prefix)
        async let networks = client.networks(prefix: prefix)
        async let nodes = client.nodes(prefix: prefix)
        let secretList = secrets ? try await client.secrets(prefix: prefix) : []
        return SwarmState(services: try await services, tasks: try await tasks, networks: try await networks,
                          nodes: try await nodes, secrets: secretList)
    }

    /// Compiles engine state into a build, with every service's status and every issue. Labels are parsed
    /// once, through `cache` (services unchanged since its previous compile are not parsed again).
    static func compile(_ state: SwarmState, configuration: Configuration, cache: inout ParsedServiceCache) -> Build {
        compile(SwarmSnapshot.describe(state, serviceCluster: configuration.serviceCluster, cache: &cache), configuration: configuration)
    }

    /// Compiles described services. A held service keeps its description from `previous` (a new one waits,
    /// inactive): what it needs is being attached, and until then the proxies keep what they can serve.
    static func compile(_ described: SwarmSnapshot.Result, configuration: Configuration, plan: UpkeepPlan = UpkeepPlan(),
                        previous: BuildInputs? = nil) -> Build {
        var described = described
        for (name, reason) in plan.rejects {
            described.services.removeAll { $0.description.name == name }
            described.rejected[name] = reason
        }
        for (name, reason) in plan.holds.sorted(by: { $0.key < $1.key }) where plan.rejects[name] == nil {
            described.services.removeAll { $0.description.name == name }
            if let before = previous?.services.first(where: { $0.name == name }) {
                described.services.append(before.parsed())
                described.issues.append(RouteIssue(.warning, service: name, key: nil, value: nil,
                                                   reason: reason + "; its previous routes stay live"))
            } else {
                described.rejected[name] = reason
            }
        }
        return Build.timed {
            RouteTableBuilder(
                settings: configuration.settings, serviceCluster: configuration.serviceCluster,
                certificates: configuration.certificates, defaultCertificate: configuration.defaultCertificate
            ).buildWithInputs(parsed: described.services, providerIssues: described.issues, rejected: described.rejected)
        }
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
        var lastInputs: BuildInputs?
        var memory = UpkeepMemory()
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
                let state = try await Self.state(client: client, secrets: configuration.upkeep?.attachSecrets == true)
                if reachable != true {
                    logger.info("Docker Engine reachable", metadata: ["endpoint": "\(client.endpointDescription)"])
                    reachable = true
                }
                // The resync every `pollInterval` mostly finds the engine as it was: then the table would come
                // out the same, so it is not compiled at all (unless a certificate file it read has moved).
                // Stamps are taken before compiling: a file that moves during the compile is seen next time.
                let stamps = configuration.certificates.watchedFiles.map(FileStamp.init(path:))
                let described = SwarmSnapshot.describe(state, serviceCluster: configuration.serviceCluster, cache: &parses)
                // The upkeep plans every time: its delays run on the clock, not on engine changes.
                var plan = UpkeepPlan()
                if let upkeep = configuration.upkeep {
                    plan = Upkeep.plan(state, networks: described.networks, certificateSecrets: Self.certificateSecrets(described, cluster: configuration.serviceCluster),
                                       readable: { configuration.certificates.isReadable($0) }, settings: upkeep,
                                       memory: &memory, now: .now)
                }
                if state == lastState, stamps == lastStamps {
                    logger.debug("engine unchanged; nothing compiled")
                } else {
                    lastState = state
                    lastStamps = stamps
                    let build = Self.compile(described, configuration: configuration, plan: plan, previous: lastInputs)
                    lastInputs = build.inputs
                    publisher.publish(build)
                }
                for update in plan.updates { await apply(update, memory: &memory) }
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

    /// The secret names each routed service's labels name for its certificate.
    static func certificateSecrets(_ described: SwarmSnapshot.Result, cluster: String) -> [String: Set<String>] {
        var names: [String: Set<String>] = [:]
        for service in described.services where service.isRouted && service.cluster == cluster {
            if let cert = service.labels?.sslCert, let key = service.labels?.sslKey { names[service.description.name] = [cert, key] }
        }
        return names
    }

    /// Makes one planned update on the spec as the engine has it now, if that is the version it was planned
    /// from. A service changed since (another controller updated it first) or a refused update ("out of
    /// sequence": changed between the read and the update) is planned again from fresh state at a later refresh.
    private func apply(_ update: ServiceUpdate, memory: inout UpkeepMemory) async {
        let edit = update.edit
        var metadata: Logger.Metadata = ["service": "\(update.serviceName)"]
        if !edit.addSecrets.isEmpty { metadata["attach-secrets"] = "\(edit.addSecrets.map(\.name).joined(separator: ","))" }
        if !edit.removeSecrets.isEmpty { metadata["detach-secrets"] = "\(edit.removeSecrets.sorted().joined(separator: ","))" }
        if !edit.addNetworks.isEmpty { metadata["attach-networks"] = "\(edit.addNetworks.joined(separator: ","))" }
        if !edit.removeNetworks.isEmpty { metadata["detach-networks"] = "\(edit.removeNetworks.sorted().joined(separator: ","))" }
        do {
            let prefix = try await client.negotiate()
            let (version, service) = try await client.rawService(prefix: prefix, id: update.serviceID)
            metadata["version"] = "\(version)"
            if let planned = update.version, planned != version {
                metadata["planned-from"] = "\(planned)"
                logger.info("service changed since the update was planned (another controller?); planned again from fresh state",
                            metadata: metadata)
                return
            }
            guard let spec = try edit.apply(toService: service) else {
                logger.debug("service already updated (by another controller)", metadata: metadata)
                return
            }
            memory.updated(update.serviceID, at: .now)
            try await client.updateService(prefix: prefix, id: update.serviceID, version: version, spec: spec)
            logger.info("service updated; Swarm rolls its tasks", metadata: metadata)
        } catch {
            // Failed or refused: tried again after the guard interval, not at every refresh.
            memory.updated(update.serviceID, at: .now)
            metadata["error"] = "\(error)"
            logger.warning("service update failed; planned again at a later refresh", metadata: metadata)
        }
    }

    /// Follows `/events`, reconnecting with backoff; every event (and every reconnect) asks for a refresh.
    private func watchEvents(_ trigger: AsyncStream<Void>.Continuation) async {
        var backoff = Backoff()
        while !Task.isCancelled {
            do {
                let prefix = try await client.negotiate()
                let events = try await client.events(prefix: prefix, types: ["service", "container", "network", "node", "secret"])
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
