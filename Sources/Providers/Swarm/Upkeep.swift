import DockerEngine
import RouteModel

/// What a controller keeps in step with the routed services, besides the table: the certificate secrets
/// attached to its own service (Docker hands a secret only to the tasks of services it is attached to) and the
/// overlay networks of the proxy service (a proxy reaches a task only on a network both are on).
/// docs/design/controller-proxy.md §5 and §6.
public struct UpkeepSettings: Sendable {
    /// The controller's own service (`PIER_SERVICE_ID={{.Service.ID}}` in the stack); nil: secrets are not attached.
    public var controllerServiceID: String?
    /// Attach the certificate secrets that labels name to the controller service (opt out: `--no-attach-secrets`).
    public var attachSecrets = true
    /// Keep the proxy service's networks in step (opt out: `--no-manage-networks`, Interlock's explicit `Networks`).
    public var manageNetworks = true
    /// The proxy service by name; nil: the service labelled `com.docker.pier.role=proxy` in the controller's stack.
    public var proxyServiceName: String?
    /// Owner of the secret files in the controller's containers.
    public var secretOwner = (uid: "0", gid: "0")
    /// File names a label may not have attached (Pier's own credentials).
    public var reservedNames: Set<String> = []
    /// A network the routed services want is attached this long after it is first wanted, so that a stack
    /// bringing several networks costs the proxies one rolling update.
    public var networkAddDelay: Duration = .seconds(2)
    /// A network Pier attached is detached once no routed service has used it for this long.
    public var networkRemovalGrace: Duration = .seconds(10)
    /// A secret Pier attached is detached once no label has named it for this long.
    public var secretRemovalGrace: Duration = .seconds(60)
    /// At most one update of a service per this interval (a guard against an update loop).
    public var minimumUpdateInterval: Duration = .seconds(10)

    public init() {}

    /// The label on the proxy service that finds it.
    public static let roleLabel = "com.docker.pier.role"
    /// The label where Pier records the networks it attached to the proxy service (it never touches others).
    public static let managedNetworksLabel = "com.docker.pier.managed-networks"
    /// The label where Pier records the secrets it attached to the controller service.
    public static let managedSecretsLabel = "com.docker.pier.managed-secrets"
    static let stackLabel = "com.docker.stack.namespace"
}

/// What the controller remembers between refreshes: since when a change has been wanted or a thing unused.
public struct UpkeepMemory: Sendable {
    var networksWantedSince: ContinuousClock.Instant?
    var networkUnusedSince: [String: ContinuousClock.Instant] = [:]
    var secretUnusedSince: [String: ContinuousClock.Instant] = [:]
    var lastUpdate: [String: ContinuousClock.Instant] = [:]

    public init() {}

    /// Records that `service` was just updated.
    public mutating func updated(_ service: String, at now: ContinuousClock.Instant) {
        lastUpdate[service] = now
        if networksWantedSince != nil { networksWantedSince = nil }
    }
}

/// One planned service update.
public struct ServiceUpdate: Sendable, Hashable {
    public var serviceID: String
    public var serviceName: String
    /// The version of the service the plan was made from: the update is made only on that version. A service
    /// changed since (another controller's update, an operator's) is planned again from fresh state: an edit
    /// made on a newer spec could repeat an update in flight, and an update that changes nothing still resets
    /// the engine's rolling-update status for good (it then never reads "completed").
    public var version: UInt64?
    public var edit: ServiceSpecEdit
}

/// The plan of one refresh: services to hold back from the table, services to leave out, updates to make.
public struct UpkeepPlan: Sendable {
    /// Services whose previous description stays live (new ones wait), with the reason: what they need is
    /// being attached.
    public var holds: [String: String] = [:]
    /// Services left out, with the reason: what they need will not be attached (the operator manages it).
    public var rejects: [String: String] = [:]
    public var updates: [ServiceUpdate] = []
}

/// Plans the upkeep from engine state. Pure: the caller reads the engine, runs the updates and keeps the memory.
public enum Upkeep {
    /// - Parameters:
    ///   - networks: the overlay network each routed service is reached on (`SwarmSnapshot.Result.networks`).
    ///   - certificateSecrets: the secret names each routed service's labels name.
    ///   - readable: whether the secret file of that name is readable by this process.
    public static func plan(_ state: SwarmState, networks: [String: String], certificateSecrets: [String: Set<String>],
                            readable: (String) -> Bool, settings: UpkeepSettings, memory: inout UpkeepMemory,
                            now: ContinuousClock.Instant) -> UpkeepPlan {
        var plan = UpkeepPlan()
        let own = settings.controllerServiceID.flatMap { id in state.services.first { $0.ID == id } }
        planSecrets(state, own: own, certificateSecrets: certificateSecrets, readable: readable, settings: settings,
                    memory: &memory, now: now, plan: &plan)
        planNetworks(state, own: own, networks: networks, settings: settings, memory: &memory, now: now, plan: &plan)
        return plan
    }

    static func planSecrets(_ state: SwarmState, own: Docker.Service?, certificateSecrets: [String: Set<String>],
                            readable: (String) -> Bool, settings: UpkeepSettings, memory: inout UpkeepMemory,
                            now: ContinuousClock.Instant, plan: inout UpkeepPlan) {
        guard settings.attachSecrets, let own else { return }
        let ids = Dictionary(state.secrets.map { ($0.Spec.Name, $0.ID) }, uniquingKeysWith: { a, _ in a })
        let attached = Set((own.Spec.TaskTemplate?.ContainerSpec?.Secrets ?? []).compactMap(\.SecretName))
        let managed = list(own.Spec.Labels?[UpkeepSettings.managedSecretsLabel])
        let named = certificateSecrets.values.reduce(into: Set<String>()) { $0.formUnion($1) }
            .filter { ids[$0] != nil && !settings.reservedNames.contains($0) }

        // A service naming a secret this task cannot read yet keeps what it had: the task that can read it
        // is on its way (the update below, or one already rolling).
        for (service, names) in certificateSecrets {
            if let missing = names.sorted().first(where: { named.contains($0) && !readable($0) }) {
                plan.holds[service] = "waiting for secret \(missing) to reach the controller"
            }
        }

        let remove = unused(managed, wanted: named, present: attached, since: &memory.secretUnusedSince,
                            grace: settings.secretRemovalGrace, now: now)
        let add = named.subtracting(attached).sorted()
        var edit = ServiceSpecEdit(
            addSecrets: add.map { .init(id: ids[$0]!, name: $0, uid: settings.secretOwner.uid, gid: settings.secretOwner.gid) },
            removeSecrets: remove)
        let stillManaged = managed.union(add).subtracting(remove)
        edit.labels[UpkeepSettings.managedSecretsLabel] = stillManaged.isEmpty ? String?.none : stillManaged.sorted().joined(separator: ",")
        if edit.changesTasks, canUpdate(own, memory: memory, settings: settings, now: now) {
            plan.updates.append(ServiceUpdate(serviceID: own.ID, serviceName: own.Spec.Name, version: own.Version?.Index, edit: edit))
        }
    }

    static func planNetworks(_ state: SwarmState, own: Docker.Service?, networks: [String: String], settings: UpkeepSettings,
                             memory: inout UpkeepMemory, now: ContinuousClock.Instant, plan: inout UpkeepPlan) {
        let proxies = state.services.filter { service in
            if let name = settings.proxyServiceName { return service.Spec.Name == name }
            let labels = service.Spec.Labels ?? [:]
            return labels[UpkeepSettings.roleLabel] == "proxy"
                && (own == nil || labels[UpkeepSettings.stackLabel] == own?.Spec.Labels?[UpkeepSettings.stackLabel])
        }
        guard !proxies.isEmpty else { return }
        let names = Dictionary(state.networks.map { ($0.Id, $0.Name) }, uniquingKeysWith: { a, _ in a })
        func id(_ target: String) -> String { names[target] != nil ? target : (state.networks.first { $0.Name == target }?.Id ?? target) }
        let wanted = Set(networks.values)

        for proxy in proxies {
            let spec = Set((proxy.Spec.TaskTemplate?.Networks ?? []).map { id($0.Target) })
            let running = state.tasks.filter { $0.ServiceID == proxy.ID && $0.DesiredState == "running" && $0.Status.State == "running" }
            for (service, network) in networks {
                let everywhere = running.allSatisfy { task in (task.NetworksAttachments ?? []).contains { $0.Network.ID == network } }
                guard !spec.contains(network) || !everywhere else { continue }
                let name = names[network] ?? network
                if settings.manageNetworks {
                    plan.holds[service] = plan.holds[service] ?? "waiting for the proxies to join network \(name)"
                } else {
                    plan.rejects[service] = "the proxy service \(proxy.Spec.Name) is not on network \(name) (the operator manages its networks)"
                }
            }
            guard settings.manageNetworks else { continue }

            let managed = list(proxy.Spec.Labels?[UpkeepSettings.managedNetworksLabel])
            let remove = unused(managed, wanted: wanted, present: spec, since: &memory.networkUnusedSince,
                                grace: settings.networkRemovalGrace, now: now)
            // Only networks that exist: a service may name one that was just removed.
            let add = wanted.subtracting(spec).filter { names[$0] != nil }.sorted()
            if add.isEmpty {
                memory.networksWantedSince = nil
            } else {
                let since = memory.networksWantedSince ?? now
                memory.networksWantedSince = since
                if now - since < settings.networkAddDelay, remove.isEmpty { continue }
            }
            let stillManaged = managed.union(add).subtracting(remove)
            let edit = ServiceSpecEdit(
                addNetworks: add, removeNetworks: remove,
                labels: [UpkeepSettings.managedNetworksLabel: stillManaged.isEmpty ? nil : stillManaged.sorted().joined(separator: ",")])
            if edit.changesTasks, canUpdate(proxy, memory: memory, settings: settings, now: now) {
                plan.updates.append(ServiceUpdate(serviceID: proxy.ID, serviceName: proxy.Spec.Name, version: proxy.Version?.Index, edit: edit))
            }
        }
    }

    /// Not while the service is rolling (the engine would refuse, or stack a second roll on the first), and
    /// not twice within the guard interval.
    static func canUpdate(_ service: Docker.Service, memory: UpkeepMemory, settings: UpkeepSettings, now: ContinuousClock.Instant) -> Bool {
        if let state = service.UpdateStatus?.State, state == "updating" || state == "rollback_started" { return false }
        if let last = memory.lastUpdate[service.ID], now - last < settings.minimumUpdateInterval { return false }
        return true
    }

    /// The managed things still present that nothing has wanted for `grace`; starts the clock of those that
    /// just became unwanted and stops it for those wanted again.
    static func unused(_ managed: Set<String>, wanted: Set<String>, present: Set<String>,
                       since: inout [String: ContinuousClock.Instant], grace: Duration, now: ContinuousClock.Instant) -> Set<String> {
        // Forgotten once no longer managed: the memory stays as small as the label.
        since = since.filter { managed.contains($0.key) }
        var remove: Set<String> = []
        for name in managed {
            guard !wanted.contains(name) else {
                since[name] = nil
                continue
            }
            let start = since[name] ?? now
            since[name] = start
            if now - start >= grace, present.contains(name) { remove.insert(name) }
        }
        return remove
    }

    static func list(_ label: String?) -> Set<String> {
        Set((label ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty })
    }
}
