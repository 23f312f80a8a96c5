/// Every `com.docker.lb.*` label Pier knows, in one place.
public enum LabelKey: String, CaseIterable, Sendable {
    case hosts
    case port
    case network
    case contextRoot = "context_root"
    case contextRootRewrite = "context_root_rewrite"
    case sslCert = "ssl_cert"
    case sslKey = "ssl_key"
    case sslPassthrough = "ssl_passthrough"
    case sslOnly = "ssl_only"
    case websocketEndpoints = "websocket_endpoints"
    case serviceCluster = "service_cluster"
    case stickySessionCookie = "sticky_session_cookie"
    case ipHash = "ip_hash"
    case redirects
    case backendMode = "backend_mode"
    case defaultBackend = "default_backend"
    case maxFails = "max_fails"
    case failTimeout = "fail_timeout"
    /// Pier extension: PROXY protocol header toward passthrough endpoints.
    case proxyProtocol = "pier.proxy_protocol"
    /// Pier extension: HTTP/2 cleartext toward the service's endpoints (gRPC).
    case upstreamProtocol = "pier.upstream_protocol"
    /// Pier extension: the service's share of a route it shares with other services (canary).
    case weight = "pier.weight"
    /// Pier extension: round robin or least connections.
    case balance = "pier.balance"

    /// Pier extension: per-service timeouts and body size limit over the global settings.
    case connectTimeout = "pier.connect_timeout"
    case readTimeout = "pier.read_timeout"
    case sendTimeout = "pier.send_timeout"
    case clientBodyTimeout = "pier.client_body_timeout"
    case keepaliveTimeout = "pier.keepalive_timeout"
    case upstreamIdleTimeout = "pier.upstream_idle_timeout"
    case maxBodySize = "pier.max_body_size"
    case responseHeaderTimeout = "pier.response_header_timeout"
    /// Pier extension: most connections open to each endpoint (nginx's `max_conns`).
    case maxConnections = "pier.max_conns"
    /// Pier extension: active health probes.
    case healthPath = "pier.health_path"
    case healthInterval = "pier.health_interval"
    case healthTimeout = "pier.health_timeout"
    case healthStatus = "pier.health_status"

    /// The label prefix shared by every key.
    public static let prefix = "com.docker.lb."

    /// The key of a label suffix (after the prefix), if Pier knows it. One hash lookup: the synthesized
    /// `init(rawValue:)` compares the suffix with every case in turn.
    static func named(_ suffix: String) -> LabelKey? { byRawValue[suffix] }

    private static let byRawValue: [String: LabelKey] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    /// The full label name, e.g. `com.docker.lb.hosts`.
    public var label: String { Self.prefix + rawValue }

    /// Interlock documented these and never implemented them; Pier says so when it sees them.
    static let unsupportedInterlockKeys: [String: String] = [
        "ssl_backend": "upstream TLS is not supported (Interlock documented it but never implemented it)",
        "ssl_backend_tls_verify": "upstream TLS is not supported (Interlock documented it but never implemented it)",
    ]

    /// The closest known key to `unknown` (a full label name), for did-you-mean hints.
    static func suggestion(for unknown: String) -> String? {
        let suffix = unknown.hasPrefix(prefix) ? String(unknown.dropFirst(prefix.count)) : unknown
        var best: (key: LabelKey, distance: Int)?
        for key in allCases {
            let d = editDistance(suffix.lowercased(), key.rawValue)
            if d < (best?.distance ?? Int.max) { best = (key, d) }
        }
        guard let best, best.distance <= max(2, best.key.rawValue.count / 3) else { return nil }
        return best.key.label
    }
}

/// Levenshtein distance, for did-you-mean suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.utf8), b = Array(b.utf8)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
