/// Renders a route table for people (`pier routes`): one line per route, then the proxy settings.
/// Never prints secrets: certificates appear by name, private keys never.
public enum RouteTablePrinter {
    /// The table as aligned text.
    public static func render(_ table: RouteTable) -> String {
        var rows: [(String, String, String)] = []
        func target(_ route: Route) -> String {
            switch route.action {
            case .redirect(let target, let status):
                return "\(status) → \(target)<path>" + only(route)
            case .redirectToHTTPS:
                return "301 → https://<host><path>" + only(route)
            case .proxy(let id):
                let pool = table.pools[id]
                let endpoints = pool.endpoints.isEmpty ? "no endpoints: 503" : list(pool)
                return "\(route.services.joined(separator: "+")) [\(endpoints)]" + (route.stripContextRoot ? " (strip \(route.contextRoot))" : "")
                    + (pool.upstreamProtocol == .h2c ? " (h2c)" : "") + balancing(pool)
                    + (route.webSocketPaths.isEmpty ? "" : " (websocket \(route.webSocketPaths.joined(separator: ",")))") + only(route)
            }
        }
        func only(_ route: Route) -> String {
            route.schemes == .both ? "" : route.schemes == .http ? " (http only)" : " (https only)"
        }
        for route in table.routes {
            rows.append((route.host.description, route.contextRoot, target(route)))
        }
        // The catch-all row is always there, so that the columns are wide enough for it too.
        rows.append(("(any other host)", "/", table.content.defaultRoute.map(target) ?? "503"))
        let w0 = max(4, rows.map { $0.0.count }.max() ?? 0)
        let w1 = max(4, rows.map { $0.1.count }.max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        var out = "route table generation \(table.generation): \(table.routes.count) route\(table.routes.count == 1 ? "" : "s")\n"
        out += pad("HOST", w0) + "  " + pad("PATH", w1) + "  TARGET\n"
        for row in rows { out += pad(row.0, w0) + "  " + pad(row.1, w1) + "  " + row.2 + "\n" }
        let tls = table.tls
        if !tls.entries.isEmpty || tls.defaultCertificate != nil {
            out += "tls:\n"
            var tlsRows: [(String, String)] = []
            for pattern in tls.entries.keys.sorted() {
                switch tls.entries[pattern]! {
                case .terminate(let certificate):
                    tlsRows.append((pattern.description, "terminate with " + describe(certificate)))
                case .passthrough(let id, let proxyProtocol):
                    let pool = table.pools[id]
                    let endpoints = pool.endpoints.isEmpty ? "no endpoints" : list(pool)
                    tlsRows.append((pattern.description, "passthrough to \(pool.services.joined(separator: "+")) [\(endpoints)]"
                        + (proxyProtocol.map { " with PROXY protocol \($0.rawValue)" } ?? "") + balancing(pool)))
                }
            }
            tlsRows.append(("(no or unknown SNI)", tls.defaultCertificate.map { "terminate with " + describe($0) } ?? "refuse (unrecognized_name)"))
            let w = tlsRows.map { $0.0.count }.max() ?? 0
            for row in tlsRows { out += "  " + pad(row.0, w) + "  " + row.1 + "\n" }
            out += "tls policy: \(table.settings.tlsPolicy.minimumVersion)–\(table.settings.tlsPolicy.maximumVersion)\n"
        }
        let s = table.settings
        out += "settings: connect \(s.connectTimeout), read \(s.readTimeout), client body \(s.clientBodyTimeout), keep-alive \(s.keepaliveTimeout), "
        out += "max body \(s.clientMaxBodySize.map { $0 > 0 ? "\($0) bytes" : "unlimited" } ?? "unlimited"), max header \(s.maxHeaderSize) bytes, "
        out += "info headers \(s.hideInfoHeaders ? "hidden" : "shown")\n"
        return out
    }

    /// The pool's endpoints, each with its weight when the pool has weights.
    private static func list(_ pool: BackendPool) -> String {
        guard pool.weights.count == pool.endpoints.count else { return pool.endpoints.map(\.description).joined(separator: ", ") }
        return zip(pool.endpoints, pool.weights).map { "\($0) weight=\(number($1))" }.joined(separator: ", ")
    }

    /// The pool's policy and passive health where they are not the defaults, e.g. ` (least_conn)`.
    private static func balancing(_ pool: BackendPool) -> String {
        var text = pool.policy == .roundRobin ? "" : " (\(pool.policy))"
        if pool.passiveHealth != PassiveHealth() { text += " (\(pool.passiveHealth))" }
        if let probe = pool.activeHealth { text += " (\(probe))" }
        if !pool.limits.isEmpty { text += " (\(pool.limits))" }
        return text
    }

    /// `x` with at most two decimals and no trailing zeros: 10, 22.5, 33.33.
    static func number(_ x: Double) -> String {
        guard x.isFinite, abs(x) < 1e12 else { return "\(x)" }
        // Rounded half away from zero without `rounded()`, which would pull libm into this stdlib-only module.
        let hundredths = Int(x * 100 + (x < 0 ? -0.5 : 0.5))
        let whole = "\(hundredths / 100)"
        var fraction = "\(abs(hundredths % 100) + 100)".dropFirst()
        while fraction.hasSuffix("0") { fraction = fraction.dropLast() }
        return fraction.isEmpty ? whole : whole + "." + fraction
    }

    private static func describe(_ certificate: TLSCertificate) -> String {
        var text = "certificate \(certificate.name)"
        if !certificate.dnsNames.isEmpty { text += " (" + certificate.dnsNames.joined(separator: ", ") + ")" }
        return text
    }
}
