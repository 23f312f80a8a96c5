import RouteModel

extension RouteTableBuilder {
    /// The pool of the services `names` (sorted by name), with what their labels say about balancing.
    ///
    /// As in Interlock, the first service by name decides the pool's balancing policy and passive health; every
    /// other service whose labels ask for something else is told whose setting applies. Weights
    /// (`com.docker.lb.pier.weight`) split the route between services: each endpoint of service S gets
    /// W(S) / (endpoints of S). Without any weight the pool has none, and traffic follows endpoint counts.
    static func composePool(id: Int, services names: [String], accepted: [String: Accepted]) -> (BackendPool, [RouteIssue]) {
        var issues: [RouteIssue] = []
        // One lookup per service; its labels are read in place (a `Labels` is a large value: every copy
        // retains its fields).
        let all = names.map { accepted[$0] ?? Accepted.missing }

        // One protocol per pool: h2c only when every service sharing it asks for it.
        let h2c = all.allSatisfy { $0.labels.upstreamProtocol == .h2c }
        if !h2c {
            for (name, own) in zip(names, all) where own.labels.upstreamProtocol == .h2c {
                issues.append(RouteIssue(.warning, service: name, key: LabelKey.upstreamProtocol.label, value: "h2c",
                                         reason: "shares its route with services that speak HTTP/1.1; HTTP/1.1 is used for all of them"))
            }
        }

        let first = names.first ?? ""
        let firstEntry = all.first ?? Accepted.missing
        let policy = firstEntry.labels.policy
        let health = firstEntry.labels.passiveHealth
        let limits = firstEntry.labels.limits
        let probe = firstEntry.labels.activeHealth
        for (name, entry) in zip(names, all).dropFirst() {
            let own = entry.labels
            if own.limits != limits {
                issues.append(RouteIssue(.warning, service: name, reason:
                    "shares its route with service \"\(first)\", whose timeouts and body size limit apply to all of them: \(limits.isEmpty ? "the global settings" : limits.description)"))
            }
            if own.activeHealth != probe {
                issues.append(RouteIssue(.warning, service: name, key: LabelKey.healthPath.label, value: own.activeHealth?.path,
                                         reason: "shares its route with service \"\(first)\", whose health probe applies to all of them: \(probe.map { "\($0)" } ?? "none")"))
            }
            if own.policy != policy {
                let (key, value) = policyLabel(own)
                issues.append(RouteIssue(.warning, service: name, key: key?.label, value: value,
                                         reason: "shares its route with service \"\(first)\", whose balancing applies to all of them: \(policy)"))
            }
            if own.passiveHealth != health {
                let (key, value) = healthLabel(own, differingFrom: health)
                issues.append(RouteIssue(.warning, service: name, key: key?.label, value: value,
                                         reason: "shares its route with service \"\(first)\", whose passive health settings apply to all of them: \(health)"))
            }
        }

        var weights: [Double] = []
        let weighted = names.indices.filter { all[$0].labels.weight != nil }.map { names[$0] }
        if !weighted.isEmpty {
            var serviceWeights: [String: Int] = [:]
            for (name, own) in zip(names, all) {
                if let weight = own.labels.weight {
                    serviceWeights[name] = weight
                } else {
                    serviceWeights[name] = 1
                    let others = weighted.map { "\"\($0)\"" }.joined(separator: ", ")
                    issues.append(RouteIssue(.warning, service: name, key: LabelKey.weight.label,
                                             reason: "missing, while \(weighted.count == 1 ? "service" : "services") \(others) on the same route \(weighted.count == 1 ? "has" : "have") one; this service counts as weight 1"))
                }
            }
            if serviceWeights.values.allSatisfy({ $0 == 0 }) {
                for name in names {
                    issues.append(RouteIssue(.warning, service: name, key: LabelKey.weight.label, value: "0",
                                             reason: "every service of its route has weight 0; weights are ignored and all endpoints take requests"))
                }
            } else {
                for name in names {
                    let own = accepted[name]?.endpoints ?? []
                    weights += repeatElement(Double(serviceWeights[name]!) / Double(own.count), count: own.count)
                }
            }
        }

        let pool = BackendPool(id: id, services: names, endpoints: all.count == 1 ? all[0].endpoints : all.flatMap(\.endpoints),
                               upstreamProtocol: h2c ? .h2c : .http1, weights: weights, policy: policy, passiveHealth: health,
                               activeHealth: probe, limits: limits)
        return (pool, issues)
    }

    /// The label that sets a service's policy, and its value; none when the service relies on the default.
    private static func policyLabel(_ labels: Labels) -> (LabelKey?, String?) {
        switch labels.policy {
        case .cookie(let name): return (.stickySessionCookie, name)
        case .clientAddress: return (.ipHash, "true")
        case .roundRobin, .leastConnections:
            return labels.balance.map { (.balance, "\($0)") } ?? (nil, nil)
        }
    }

    /// A passive health label the service sets to something other than the pool's, and its value; none when
    /// the difference is a default the service relies on.
    private static func healthLabel(_ labels: Labels, differingFrom health: PassiveHealth) -> (LabelKey?, String?) {
        if let maxFails = labels.maxFails, maxFails != health.maxFails { return (.maxFails, "\(maxFails)") }
        if let timeout = labels.failTimeout, timeout != health.failTimeout { return (.failTimeout, ValueSyntax.text(timeout)) }
        return (nil, nil)
    }
}
