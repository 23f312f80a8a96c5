import RouteModel

extension Labels {
    /// The hosts a label set asks for, read leniently: every item of `com.docker.lb.hosts` that normalises to
    /// a name, whatever else is wrong with the labels. A rejected or other-cluster service is not in the
    /// table, yet `pier explain` must still say that it wanted the host and why it does not get it.
    public static func claimedHosts(_ labels: [String: String]) -> [HostPattern] {
        guard let value = labels[LabelKey.hosts.label] else { return [] }
        var hosts: [HostPattern] = []
        for item in ValueSyntax.list(value) {
            let name = HostName.normalize(item)
            guard !name.isEmpty else { continue }
            let pattern = HostPattern(name)
            if !hosts.contains(pattern) { hosts.append(pattern) }
        }
        return hosts
    }

    /// Whether a label set asks to be the default backend (`com.docker.lb.default_backend` true), read as
    /// leniently as `claimedHosts`.
    public static func claimsDefaultBackend(_ labels: [String: String]) -> Bool {
        labels[LabelKey.defaultBackend.label].flatMap(ValueSyntax.bool) == true
    }
}
