import DockerEngine
import LabelConfig
import RouteModel

/// What the engine said at one moment: the lists the Swarm provider reads.
public struct SwarmState: Sendable, Hashable {
    public var services: [Docker.Service]
    public var tasks: [Docker.Task]
    public var networks: [Docker.Network]
    public var nodes: [Docker.Node]
    /// Secrets' names and IDs; read only by a controller that attaches certificate secrets to itself.
    public var secrets: [Docker.Secret]

    public init(services: [Docker.Service], tasks: [Docker.Task], networks: [Docker.Network], nodes: [Docker.Node],
                secrets: [Docker.Secret] = []) {
        self.services = services
        self.tasks = tasks
        self.networks = networks
        self.nodes = nodes
        self.secrets = secrets
    }
}

/// Turns engine state into the service descriptions every provider feeds the table compiler: which tasks
/// count, and which address and port reach each of them. Pure.
///
/// - Only tasks whose desired state *and* state are `running` count: a task the orchestrator is stopping
///   (rolling update, scale down) leaves rotation as soon as its desired state changes, before it stops.
/// - Task mode: the task's address on the service's network (`com.docker.lb.network`, or its only
///   network), with the `com.docker.lb.port` port.
/// - A task that publishes the label port in host mode is reached at its node's address and published port
///   instead (Interlock's "application host mode"), one endpoint per task.
/// - `backend_mode=vip`: the service's virtual IP on that network.
public enum SwarmSnapshot {
    /// The result: parsed services to compile, issues the compiler cannot see, services left out.
    public struct Result: Sendable {
        public var services: [ParsedService]
        public var issues: [RouteIssue]
        /// Services left out by the provider, with the reason (network problems).
        public var rejected: [String: String]
        /// The overlay network (ID) each routed service's endpoints are reached on; absent for services
        /// reached by host-mode publishing, which need no network.
        public var networks: [String: String] = [:]
    }

    /// Describes every service, its labels parsed once; network checks are skipped for services of another
    /// cluster than `serviceCluster` (another Pier's business) and for services whose labels do not parse
    /// (their label errors say why they are left out), which the table compiler then leaves out.
    public static func describe(_ state: SwarmState, serviceCluster: String = "") -> Result {
        var cache = ParsedServiceCache()
        return describe(state, serviceCluster: serviceCluster, cache: &cache)
    }

    /// As `describe(_:serviceCluster:)`, parsing through `cache`: a service whose labels did not change since
    /// the cache's previous refresh is not parsed again.
    public static func describe(_ state: SwarmState, serviceCluster: String = "", cache: inout ParsedServiceCache) -> Result {
        var descriptions: [ParsedService] = []
        var issues: [RouteIssue] = []
        var rejected: [String: String] = [:]
        var reachedOn: [String: String] = [:]
        let networkNames = Dictionary(state.networks.map { ($0.Id, $0.Name) }, uniquingKeysWith: { a, _ in a })
        let nodeAddress = Dictionary(state.nodes.compactMap { n in address(of: n).map { (n.ID, $0) } }, uniquingKeysWith: { a, _ in a })
        var tasksByService: [String: [Docker.Task]] = [:]
        for task in state.tasks where task.DesiredState == "running" && task.Status.State == "running" {
            tasksByService[task.ServiceID, default: []].append(task)
        }

        let parsedServices = cache.parse(state.services.map { ServiceDescription(name: $0.Spec.Name, labels: $0.Spec.Labels ?? [:], endpoints: []) })
        for (service, parsed) in zip(state.services, parsedServices) {
            let name = service.Spec.Name
            guard parsed.isRouted, parsed.cluster == serviceCluster, let labels = parsed.labels else {
                descriptions.append(parsed)
                continue
            }
            let labelPort = labels.port
            let vip = labels.backendMode == .vip
            let tasks = (tasksByService[service.ID] ?? []).sorted { ($0.Slot ?? 0, $0.ID) < ($1.Slot ?? 0, $1.ID) }

            // The service's networks, by ID, from its spec (tasks repeat them).
            let networkIDs = (service.Spec.TaskTemplate?.Networks ?? []).map { target in
                // The spec holds IDs; a client may have sent a name, which the engine normally resolves.
                networkNames[target.Target] != nil ? target.Target : (state.networks.first { $0.Name == target.Target }?.Id ?? target.Target)
            }
            var chosenNetwork: String?
            if let wanted = labels.network {
                guard let id = networkIDs.first(where: { $0 == wanted || networkNames[$0] == wanted }) else {
                    let on = networkIDs.map { networkNames[$0] ?? $0 }.sorted().joined(separator: ", ")
                    let reason = "the service is not on network \"\(wanted)\"" + (on.isEmpty ? " (it is on no network)" : " (it is on: \(on))")
                    issues.append(RouteIssue(.error, service: name, key: LabelKey.network.label, value: wanted, reason: reason))
                    rejected[name] = "network issue"
                    continue
                }
                chosenNetwork = id
            } else if networkIDs.count == 1 {
                chosenNetwork = networkIDs[0]
            } else if networkIDs.count > 1, !publishesHostMode(service, target: labelPort) {
                let on = networkIDs.map { networkNames[$0] ?? $0 }.sorted().joined(separator: ", ")
                issues.append(RouteIssue(.error, service: name, key: LabelKey.network.label, value: "",
                                         reason: "missing: the service is on several networks (\(on)); name the one Pier should use"))
                rejected[name] = "network issue"
                continue
            }

            if let chosenNetwork, !publishesHostMode(service, target: labelPort) { reachedOn[name] = chosenNetwork }
            var endpoints: [ServiceDescription.Address] = []
            if vip {
                let addresses = (service.Endpoint?.VirtualIPs ?? []).filter { $0.NetworkID == chosenNetwork }.compactMap { $0.Addr.map(stripPrefix) }
                if !tasks.isEmpty, let first = addresses.first { endpoints.append(.init(host: first, port: nil)) }
            } else {
                for task in tasks {
                    if let published = hostPublished(task, target: labelPort), let node = task.NodeID.flatMap({ nodeAddress[$0] }) {
                        endpoints.append(.init(host: node, port: published))
                    } else if let network = chosenNetwork,
                        let attachment = task.NetworksAttachments?.first(where: { $0.Network.ID == network }),
                        let address = attachment.Addresses?.first
                    {
                        endpoints.append(.init(host: stripPrefix(address), port: nil))
                    }
                }
            }
            descriptions.append(parsed.with(endpoints: endpoints))
        }
        return Result(services: descriptions, issues: issues, rejected: rejected, networks: reachedOn)
    }

    /// The published port of a host-mode binding of `target` on `task`: the first entry only, since Docker
    /// 20.10 may list a second binding whose port belongs to another task.
    static func hostPublished(_ task: Docker.Task, target: Int?) -> Int? {
        guard let target else { return nil }
        let ports = task.Status.PortStatus?.Ports ?? []
        return ports.first { $0.TargetPort == target && ($0.PublishMode ?? "host") == "host" && ($0.Protocol ?? "tcp") == "tcp" }?.PublishedPort
    }

    /// Whether the service publishes `target` in host mode: then its tasks are reached at their node's
    /// address, and which overlay network it is on does not matter.
    static func publishesHostMode(_ service: Docker.Service, target: Int?) -> Bool {
        guard let target else { return false }
        return (service.Spec.EndpointSpec?.Ports ?? []).contains { $0.TargetPort == target && $0.PublishMode == "host" }
    }

    /// The address a node's host-mode ports are reached at. Managers may report `0.0.0.0` as their
    /// status address; their manager address then says where they are.
    static func address(of node: Docker.Node) -> String? {
        if let addr = node.Status?.Addr, addr != "0.0.0.0", !addr.isEmpty { return addr }
        guard let manager = node.ManagerStatus?.Addr, let colon = manager.lastIndex(of: ":") else { return nil }
        var host = manager[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return String(host)
    }

    static func stripPrefix(_ cidr: String) -> String {
        cidr.split(separator: "/").first.map(String.init) ?? cidr
    }
}
