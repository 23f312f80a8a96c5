import Foundation

/// A change to a service's spec, made on the spec as the engine sent it: every field Pier does not know is
/// kept as it was (the typed `Docker.Service` holds only what Pier reads, so an update built from it would
/// drop the rest of the operator's spec). Pure.
public struct ServiceSpecEdit: Sendable, Hashable {
    /// A secret given to the service's containers as the file `/run/secrets/<name>`.
    public struct SecretFile: Sendable, Hashable {
        public var id: String
        public var name: String
        public var uid: String
        public var gid: String
        /// File mode, e.g. 0o400.
        public var mode: Int

        public init(id: String, name: String, uid: String = "0", gid: String = "0", mode: Int = 0o400) {
            self.id = id
            self.name = name
            self.uid = uid
            self.gid = gid
            self.mode = mode
        }
    }

    /// Secrets to add (skipped when the service already has one of that name).
    public var addSecrets: [SecretFile] = []
    /// Secret names to remove.
    public var removeSecrets: Set<String> = []
    /// Network IDs to attach (skipped when attached).
    public var addNetworks: [String] = []
    /// Network IDs to detach.
    public var removeNetworks: Set<String> = []
    /// Service labels to set (a nil value removes the label).
    public var labels: [String: String?] = [:]

    public init(addSecrets: [SecretFile] = [], removeSecrets: Set<String> = [], addNetworks: [String] = [],
                removeNetworks: Set<String> = [], labels: [String: String?] = [:]) {
        self.addSecrets = addSecrets
        self.removeSecrets = removeSecrets
        self.addNetworks = addNetworks
        self.removeNetworks = removeNetworks
        self.labels = labels
    }

    /// Whether the edit changes secrets or networks (labels alone never justify an update).
    public var changesTasks: Bool {
        !addSecrets.isEmpty || !removeSecrets.isEmpty || !addNetworks.isEmpty || !removeNetworks.isEmpty
    }

    /// The spec to send to `POST /services/{id}/update`, made from the service object of `GET /services/{id}`;
    /// nil when the service already is as the edit wants it (another controller made the same update first:
    /// sending it again would start another rolling update for nothing).
    public func apply(toService service: Data) throws -> Data? {
        guard let object = try JSONSerialization.jsonObject(with: service) as? [String: Any],
              let original = object["Spec"] as? [String: Any]
        else { throw DockerError.decoding(path: "/services/{id}", field: "Spec", reason: "not an object") }
        var spec = original
        var template = spec["TaskTemplate"] as? [String: Any] ?? [:]

        var container = template["ContainerSpec"] as? [String: Any] ?? [:]
        var secrets = (container["Secrets"] as? [[String: Any]] ?? []).filter {
            !removeSecrets.contains($0["SecretName"] as? String ?? "")
        }
        for secret in addSecrets where !secrets.contains(where: { $0["SecretName"] as? String == secret.name }) {
            secrets.append(["SecretID": secret.id, "SecretName": secret.name,
                            "File": ["Name": secret.name, "UID": secret.uid, "GID": secret.gid, "Mode": secret.mode]])
        }
        if !secrets.isEmpty || container["Secrets"] != nil { container["Secrets"] = secrets }
        template["ContainerSpec"] = container

        var networks = (template["Networks"] as? [[String: Any]] ?? []).filter {
            !removeNetworks.contains($0["Target"] as? String ?? "")
        }
        for network in addNetworks where !networks.contains(where: { $0["Target"] as? String == network }) {
            networks.append(["Target": network])
        }
        if !networks.isEmpty || template["Networks"] != nil { template["Networks"] = networks }
        spec["TaskTemplate"] = template

        var serviceLabels = spec["Labels"] as? [String: Any] ?? [:]
        for (key, value) in labels { serviceLabels[key] = value }
        spec["Labels"] = serviceLabels
        if NSDictionary(dictionary: spec).isEqual(to: original) { return nil }
        return try JSONSerialization.data(withJSONObject: spec, options: [.sortedKeys])
    }
}
