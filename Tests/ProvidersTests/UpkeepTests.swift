import DockerEngine
import Foundation
import LabelConfig
import RouteModel
import Testing

@testable import Providers

/// The controller's upkeep, planned from engine state: certificate secrets attached to its own service, the
/// proxy service's networks, the services held back meanwhile. Pure; the engine round trip is in
/// SwarmProviderTests and StackTests.
struct UpkeepTests {
    static func decode<T: Decodable>(_ json: String, as: T.Type = T.self) -> T {
        try! JSONDecoder().decode(T.self, from: Data(json.utf8))
    }

    static let controllerID = "ctl1"
    static let proxyID = "prx1"

    /// A controller and a proxy service of stack `pier`; the proxy on the control network plus `proxyNetworks`.
    static func state(controllerSecrets: [String] = [], managedSecrets: String? = nil, proxyNetworks: [String] = [],
                      managedNetworks: String? = nil, proxyTasks: [[String]] = [["control"]], updating: Bool = false,
                      secrets: [String] = ["site.crt", "site.key", "other.crt"]) -> SwarmState {
        var controllerLabels = ["com.docker.stack.namespace": "pier", "com.docker.pier.role": "controller"]
        controllerLabels["com.docker.pier.managed-secrets"] = managedSecrets
        var proxyLabels = ["com.docker.stack.namespace": "pier", "com.docker.pier.role": "proxy"]
        proxyLabels["com.docker.pier.managed-networks"] = managedNetworks
        let controller = Docker.Service(
            ID: controllerID, Version: .init(Index: 10),
            Spec: .init(Name: "pier_controller", Labels: controllerLabels,
                        TaskTemplate: .init(ContainerSpec: .init(Secrets: (["pier-ca.crt-v1"] + controllerSecrets).map { .init(SecretID: "id-\($0)", SecretName: $0) }))),
            UpdateStatus: updating ? .init(State: "updating") : nil)
        let proxy = Docker.Service(
            ID: proxyID, Version: .init(Index: 11),
            Spec: .init(Name: "pier_proxy", Labels: proxyLabels, TaskTemplate: .init(Networks: (["control"] + proxyNetworks).map { .init(Target: $0) })))
        let tasks = proxyTasks.enumerated().map { index, networks in
            decode(#"{"ID":"pt\#(index)","ServiceID":"\#(proxyID)","DesiredState":"running","Status":{"State":"running"},"NetworksAttachments":["#
                   + networks.map { #"{"Network":{"ID":"\#($0)"},"Addresses":["10.0.0.\#(index)/24"]}"# }.joined(separator: ",") + "]}", as: Docker.Task.self)
        }
        let networks = ["control", "apps", "more"].map { decode(#"{"Id":"\#($0)","Name":"net-\#($0)"}"#, as: Docker.Network.self) }
        return SwarmState(services: [controller, proxy], tasks: tasks, networks: networks, nodes: [],
                          secrets: secrets.map { Docker.Secret(ID: "id-\($0)", name: $0) })
    }

    static var settings: UpkeepSettings {
        var settings = UpkeepSettings()
        settings.controllerServiceID = controllerID
        settings.reservedNames = ["pier-controller.key"]
        return settings
    }

    static func plan(_ state: SwarmState, networks: [String: String] = [:], secrets: [String: Set<String>] = [:],
                     readable: Set<String> = [], settings: UpkeepSettings = settings, memory: inout UpkeepMemory,
                     at now: ContinuousClock.Instant) -> UpkeepPlan {
        Upkeep.plan(state, networks: networks, certificateSecrets: secrets, readable: { readable.contains($0) },
                    settings: settings, memory: &memory, now: now)
    }

    // MARK: Secrets

    @Test func aNamedSecretTheControllerLacksIsAttachedInOneUpdateAndItsServiceHeld() {
        var memory = UpkeepMemory()
        let plan = Self.plan(Self.state(), secrets: ["web": ["site.crt", "site.key"]], memory: &memory, at: .now)
        #expect(plan.holds == ["web": "waiting for secret site.crt to reach the controller"])
        #expect(plan.updates.count == 1)
        let update = try! #require(plan.updates.first)
        #expect(update.serviceID == Self.controllerID)
        #expect(update.edit.addSecrets.map(\.name) == ["site.crt", "site.key"])
        #expect(update.edit.addSecrets.map(\.id) == ["id-site.crt", "id-site.key"])
        #expect(update.edit.labels == ["com.docker.pier.managed-secrets": "site.crt,site.key"])
    }

    @Test func attachedAndReadableSecretsNeedNothing() {
        var memory = UpkeepMemory()
        let plan = Self.plan(Self.state(controllerSecrets: ["site.crt", "site.key"], managedSecrets: "site.crt,site.key"),
                             secrets: ["web": ["site.crt", "site.key"]], readable: ["site.crt", "site.key"], memory: &memory, at: .now)
        #expect(plan.holds.isEmpty)
        #expect(plan.updates.isEmpty)
    }

    @Test func aSecretAttachedButNotYetInThisTaskHoldsWithoutAnotherUpdate() {
        // The update was made; this (old) task cannot read the file, the new task will.
        var memory = UpkeepMemory()
        let plan = Self.plan(Self.state(controllerSecrets: ["site.crt", "site.key"], managedSecrets: "site.crt,site.key"),
                             secrets: ["web": ["site.crt", "site.key"]], memory: &memory, at: .now)
        #expect(plan.holds["web"] != nil)
        #expect(plan.updates.isEmpty)
    }

    @Test func aSecretThatDoesNotExistOrIsReservedIsNeitherAttachedNorHeld() {
        var memory = UpkeepMemory()
        let plan = Self.plan(Self.state(), secrets: ["web": ["missing.crt", "missing.key"], "bad": ["pier-controller.key"]],
                             memory: &memory, at: .now)
        // The compile reports them (cannot read …); waiting would never end.
        #expect(plan.holds.isEmpty)
        #expect(plan.updates.isEmpty)
    }

    @Test func noAttachingWhenOptedOutOrWithoutTheControllerService() {
        var memory = UpkeepMemory()
        var off = Self.settings
        off.attachSecrets = false
        #expect(Self.plan(Self.state(), secrets: ["web": ["site.crt", "site.key"]], settings: off, memory: &memory, at: .now).updates.isEmpty)
        var unknown = Self.settings
        unknown.controllerServiceID = nil
        let plan = Self.plan(Self.state(), secrets: ["web": ["site.crt", "site.key"]], settings: unknown, memory: &memory, at: .now)
        #expect(plan.updates.isEmpty)
        #expect(plan.holds.isEmpty)
    }

    @Test func anUnusedManagedSecretIsDetachedAfterTheGraceAndOnlyThatOne() {
        var memory = UpkeepMemory()
        let state = Self.state(controllerSecrets: ["site.crt", "site.key", "other.crt"], managedSecrets: "other.crt,site.crt,site.key")
        let start = ContinuousClock.now
        let secrets: [String: Set<String>] = ["web": ["site.crt", "site.key"]]
        let readable: Set<String> = ["site.crt", "site.key", "other.crt"]
        #expect(Self.plan(state, secrets: secrets, readable: readable, memory: &memory, at: start).updates.isEmpty)
        #expect(Self.plan(state, secrets: secrets, readable: readable, memory: &memory, at: start + .seconds(59)).updates.isEmpty)
        let plan = Self.plan(state, secrets: secrets, readable: readable, memory: &memory, at: start + .seconds(61))
        let edit = try! #require(plan.updates.first?.edit)
        // pier-ca.crt-v1 was not attached by Pier: never touched.
        #expect(edit.removeSecrets == ["other.crt"])
        #expect(edit.labels == ["com.docker.pier.managed-secrets": "site.crt,site.key"])
    }

    @Test func noUpdateWhileTheServiceRollsOrTwiceWithinTheGuard() {
        var memory = UpkeepMemory()
        let secrets: [String: Set<String>] = ["web": ["site.crt", "site.key"]]
        #expect(Self.plan(Self.state(updating: true), secrets: secrets, memory: &memory, at: .now).updates.isEmpty)
        let start = ContinuousClock.now
        memory.updated(Self.controllerID, at: start)
        #expect(Self.plan(Self.state(), secrets: secrets, memory: &memory, at: start + .seconds(5)).updates.isEmpty)
        #expect(Self.plan(Self.state(), secrets: secrets, memory: &memory, at: start + .seconds(11)).updates.count == 1)
    }

    // MARK: Networks

    @Test func aNetworkTheProxiesLackIsAddedAfterTheDelayAndItsServicesHeldUntilEveryProxyIsOnIt() {
        var memory = UpkeepMemory()
        let start = ContinuousClock.now
        let wanted = ["web": "apps", "api": "apps"]
        let first = Self.plan(Self.state(), networks: wanted, memory: &memory, at: start)
        #expect(first.updates.isEmpty, "additions wait for the delay, so that a stack's networks come in one update")
        #expect(first.holds == ["web": "waiting for the proxies to join network net-apps", "api": "waiting for the proxies to join network net-apps"])
        let second = Self.plan(Self.state(), networks: ["web": "apps", "api": "apps", "db": "more"], memory: &memory, at: start + .seconds(2))
        let update = try! #require(second.updates.first)
        #expect(update.serviceID == Self.proxyID)
        #expect(update.edit.addNetworks == ["apps", "more"])
        #expect(update.edit.labels == ["com.docker.pier.managed-networks": "apps,more"])

        // Spec updated, one proxy task rolled so far: still held.
        let rolling = Self.state(proxyNetworks: ["apps"], managedNetworks: "apps", proxyTasks: [["control", "apps"], ["control"]])
        #expect(Self.plan(rolling, networks: ["web": "apps"], memory: &memory, at: start + .seconds(20)).holds.keys.sorted() == ["web"])
        let done = Self.state(proxyNetworks: ["apps"], managedNetworks: "apps", proxyTasks: [["control", "apps"], ["control", "apps"]])
        let settled = Self.plan(done, networks: ["web": "apps"], memory: &memory, at: start + .seconds(21))
        #expect(settled.holds.isEmpty)
        #expect(settled.updates.isEmpty)
    }

    @Test func aNetworkNoServiceUsesIsDetachedAfterTheGraceButNeverOneThePierDidNotAdd() {
        var memory = UpkeepMemory()
        let start = ContinuousClock.now
        // "more" was added by the operator (not in the label), "apps" by Pier; no routed service uses either.
        let state = Self.state(proxyNetworks: ["apps", "more"], managedNetworks: "apps", proxyTasks: [["control", "apps", "more"]])
        #expect(Self.plan(state, memory: &memory, at: start).updates.isEmpty)
        #expect(Self.plan(state, memory: &memory, at: start + .seconds(9)).updates.isEmpty)
        let edit = try! #require(Self.plan(state, memory: &memory, at: start + .seconds(10)).updates.first?.edit)
        #expect(edit.removeNetworks == ["apps"])
        #expect(edit.addNetworks.isEmpty)
        #expect(edit.labels == ["com.docker.pier.managed-networks": String?.none])
    }

    @Test func aNetworkUsedAgainWithinTheGraceStays() {
        var memory = UpkeepMemory()
        let start = ContinuousClock.now
        let state = Self.state(proxyNetworks: ["apps"], managedNetworks: "apps", proxyTasks: [["control", "apps"]])
        _ = Self.plan(state, memory: &memory, at: start)
        _ = Self.plan(state, networks: ["web": "apps"], memory: &memory, at: start + .seconds(5))
        #expect(Self.plan(state, memory: &memory, at: start + .seconds(12)).updates.isEmpty)
    }

    @Test func explicitNetworksLeaveTheProxyServiceAloneAndServicesElsewhereOut() {
        var memory = UpkeepMemory()
        var explicit = Self.settings
        explicit.manageNetworks = false
        let plan = Self.plan(Self.state(), networks: ["web": "apps", "ok": "control"], settings: explicit, memory: &memory,
                             at: .now + .seconds(60))
        #expect(plan.updates.isEmpty)
        #expect(plan.holds.isEmpty)
        #expect(plan.rejects == ["web": "the proxy service pier_proxy is not on network net-apps (the operator manages its networks)"])
    }

    @Test func withoutAProxyServiceNetworksAreNotManaged() {
        var memory = UpkeepMemory()
        var state = Self.state()
        state.services.removeAll { $0.ID == Self.proxyID }
        let plan = Self.plan(state, networks: ["web": "apps"], memory: &memory, at: .now)
        #expect(plan.holds.isEmpty && plan.updates.isEmpty && plan.rejects.isEmpty)
    }

    // MARK: The compile

    @Test func aHeldServiceKeepsItsPreviousDescriptionAndANewOneWaits() throws {
        let state = try SwarmSnapshotTests.state()
        var configuration = SwarmProvider.Configuration()
        configuration.certificates = CertificateFiles(directory: "/nonexistent", allowsPaths: false)
        let described = SwarmSnapshot.describe(state)
        let first = SwarmProvider.compile(described, configuration: configuration)
        let routed = try #require(described.services.first { $0.isRouted && $0.description.name == "rec-task" }).description
        // The engine now says rec-task moved to another host; it is held: the previous description stays live.
        var moved = described
        let index = try #require(moved.services.firstIndex { $0.description.name == routed.name })
        var relabelled = routed
        relabelled.labels["com.docker.lb.hosts"] = "moved.rec.test"
        moved.services[index] = relabelled.parsed()
        let plan = UpkeepPlan(holds: [routed.name: "waiting for the proxies to join network n"])
        let held = SwarmProvider.compile(moved, configuration: configuration, plan: plan, previous: first.inputs)
        #expect(held.inputs.services.first { $0.name == routed.name } == routed)
        #expect(held.result.issues.contains { $0.service == routed.name && $0.reason.contains("previous routes stay live") })
        // With no previous description the service waits, inactive with the reason.
        let waiting = SwarmProvider.compile(moved, configuration: configuration, plan: plan, previous: nil)
        #expect(!waiting.inputs.services.contains { $0.name == routed.name })
        #expect(waiting.result.statuses.first { $0.service == routed.name }?.state == .inactive("waiting for the proxies to join network n"))
    }

    // MARK: The spec edit

    @Test func theSpecEditKeepsEveryFieldItDoesNotChange() throws {
        let service = #"""
        {"ID":"x","Version":{"Index":7},"Spec":{"Name":"pier_proxy","Labels":{"a":"1","com.docker.pier.managed-networks":"old"},
         "TaskTemplate":{"ContainerSpec":{"Image":"pier:test","Args":["proxy"],"Secrets":[{"SecretID":"s1","SecretName":"keep","File":{"Name":"keep","UID":"10001","GID":"10001","Mode":256}},{"SecretID":"s2","SecretName":"drop"}]},
          "Networks":[{"Target":"control","Aliases":["p"]},{"Target":"old"}],"RestartPolicy":{"Condition":"any","Delay":1000000000},"ForceUpdate":0},
         "UpdateConfig":{"Parallelism":1,"Order":"stop-first"},"EndpointSpec":{"Ports":[{"TargetPort":8080,"PublishMode":"host"}]},"Mode":{"Replicated":{"Replicas":2}}}}
        """#
        let edit = ServiceSpecEdit(addSecrets: [.init(id: "s3", name: "site.crt")], removeSecrets: ["drop"], addNetworks: ["apps", "control"],
                                   removeNetworks: ["old"], labels: ["com.docker.pier.managed-networks": "apps", "gone": nil])
        let spec = try JSONSerialization.jsonObject(with: try #require(try edit.apply(toService: Data(service.utf8)))) as! [String: Any]
        let original = (try JSONSerialization.jsonObject(with: Data(service.utf8)) as! [String: Any])["Spec"] as! [String: Any]
        #expect(spec["Name"] as? String == "pier_proxy")
        #expect(NSDictionary(dictionary: spec["UpdateConfig"] as! [String: Any]).isEqual(to: original["UpdateConfig"] as! [String: Any]))
        #expect(NSDictionary(dictionary: spec["EndpointSpec"] as! [String: Any]).isEqual(to: original["EndpointSpec"] as! [String: Any]))
        #expect(NSDictionary(dictionary: spec["Mode"] as! [String: Any]).isEqual(to: original["Mode"] as! [String: Any]))
        #expect(spec["Labels"] as? [String: String] == ["a": "1", "com.docker.pier.managed-networks": "apps"])
        let template = spec["TaskTemplate"] as! [String: Any]
        #expect((template["RestartPolicy"] as? [String: Any])?["Delay"] as? Int == 1_000_000_000)
        let container = template["ContainerSpec"] as! [String: Any]
        #expect(container["Image"] as? String == "pier:test")
        let secrets = container["Secrets"] as! [[String: Any]]
        #expect(secrets.map { $0["SecretName"] as? String } == ["keep", "site.crt"])
        #expect((secrets[1]["File"] as? [String: Any])?["Mode"] as? Int == 0o400)
        #expect(((secrets[0]["File"] as? [String: Any])?["UID"] as? String) == "10001")
        let networks = template["Networks"] as! [[String: Any]]
        #expect(networks.map { $0["Target"] as? String } == ["control", "apps"])
        #expect(networks[0]["Aliases"] as? [String] == ["p"])
        // Made again on the result (a second controller, same plan): nothing to send.
        let updated = #"{"ID":"x","Version":{"Index":8},"Spec":"# + String(decoding: try #require(try edit.apply(toService: Data(service.utf8))), as: UTF8.self) + "}"
        #expect(try edit.apply(toService: Data(updated.utf8)) == nil)
    }
}
