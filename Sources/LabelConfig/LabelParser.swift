import RouteModel

/// Validates one service's labels key by key, collecting every issue.
struct LabelParser {
    let service: String
    private(set) var issues: [RouteIssue] = []
    /// The label values as written, for issues raised after parsing.
    private var written = Written()
    var hasErrors: Bool { issues.contains { $0.severity == .error } }

    init(service: String) {
        self.service = service
    }

    private mutating func error(_ key: LabelKey, _ value: String, _ reason: String) {
        issues.append(RouteIssue(.error, service: service, key: key.label, value: value, reason: reason))
    }

    private mutating func warning(_ key: LabelKey, _ value: String, _ reason: String) {
        issues.append(RouteIssue(.warning, service: service, key: key.label, value: value, reason: reason))
    }

    mutating func parse(_ labels: [String: String]) -> Labels {
        var result = Labels()
        for (name, value) in labels.sorted(by: { $0.key < $1.key }) where name.hasPrefix(LabelKey.prefix) {
            let suffix = String(Substring(name.utf8.dropFirst(LabelKey.prefix.utf8.count)))
            guard let key = LabelKey.named(suffix) else {
                if let why = LabelKey.unsupportedInterlockKeys[suffix] {
                    issues.append(RouteIssue(.warning, service: service, key: name, value: value, reason: why + "; ignored"))
                } else {
                    var reason = "unknown label"
                    if let hint = LabelKey.suggestion(for: name) { reason += "; did you mean \(hint)?" }
                    issues.append(RouteIssue(.error, service: service, key: name, value: value, reason: reason))
                }
                continue
            }
            written[key] = value
            parse(key, value, into: &result)
        }
        crossCheck(&result)
        return result
    }

    private mutating func bool(_ key: LabelKey, _ value: String) -> Bool {
        guard let b = ValueSyntax.bool(value) else {
            error(key, value, "not a boolean; use true or false")
            return false
        }
        return b
    }

    private mutating func parse(_ key: LabelKey, _ value: String, into r: inout Labels) {
        switch key {
        case .hosts:
            let items = ValueSyntax.list(value)
            if items.isEmpty { error(key, value, "no host names; give a comma-separated list such as app.example.org") }
            for item in items {
                if let reason = Self.hostProblem(item) {
                    error(key, value, "\"\(item)\" \(reason)")
                } else {
                    let pattern = HostPattern(HostName.normalize(item))
                    if !r.hosts.contains(pattern) { r.hosts.append(pattern) }
                }
            }
        case .port:
            guard let port = Labels.parsePort(value.trimmingWhitespace()) else {
                error(key, value, "not a port number; use an integer from 1 to 65535")
                return
            }
            r.port = port
        case .network:
            let name = value.trimmingWhitespace()
            if name.isEmpty { error(key, value, "empty network name") } else { r.network = name }
        case .contextRoot:
            let root = value.trimmingWhitespace()
            if let reason = Self.pathProblem(root) {
                error(key, value, reason)
            } else {
                r.contextRoot = Self.normalizedPath(root)
            }
        case .contextRootRewrite:
            r.contextRootRewrite = bool(key, value)
        case .sslCert, .sslKey:
            let name = value.trimmingWhitespace()
            // A name is read from the secrets folder; an absolute path is for the configuration file only
            // (the Swarm provider refuses it when loading).
            if name.isEmpty || (name.contains("/") && !name.hasPrefix("/")) {
                error(key, value, "not a Docker secret name")
            } else if key == .sslCert {
                r.sslCert = name
            } else {
                r.sslKey = name
            }
        case .sslPassthrough:
            r.sslPassthrough = bool(key, value)
        case .sslOnly:
            r.sslOnly = bool(key, value)
        case .websocketEndpoints:
            let items = ValueSyntax.list(value)
            if items.isEmpty { error(key, value, "no path; give a comma-separated list such as /ws,/chat") }
            for item in items {
                if let reason = Self.pathProblem(item) {
                    error(key, value, "\"\(item)\": \(reason)")
                } else {
                    let normalized = Self.normalizedPath(item)
                    if !r.websocketEndpoints.contains(normalized) { r.websocketEndpoints.append(normalized) }
                }
            }
        case .serviceCluster:
            r.serviceCluster = value.trimmingWhitespace()
        case .stickySessionCookie:
            let name = value.trimmingWhitespace()
            if name.isEmpty || !name.utf8.allSatisfy(Self.isTokenByte) {
                error(key, value, "not a cookie name (RFC 6265 token)")
            } else {
                r.stickySessionCookie = name
            }
        case .ipHash:
            r.ipHash = bool(key, value)
        case .redirects:
            parseRedirects(value, into: &r)
        case .backendMode:
            switch value.trimmingWhitespace() {
            case "task", "default", "": r.backendMode = .task
            case "vip": r.backendMode = .vip
            default: error(key, value, "unknown backend mode; use task or vip")
            }
        case .defaultBackend:
            r.defaultBackend = bool(key, value)
        case .maxFails:
            guard let n = Int(value.trimmingWhitespace()), n >= 0, n < 1_000_000 else {
                error(key, value, "not a non-negative integer")
                return
            }
            r.maxFails = n
        case .failTimeout:
            guard let d = ValueSyntax.duration(value) else {
                error(key, value, "not a duration; use nginx syntax such as 10s, 500ms or 1m")
                return
            }
            r.failTimeout = d
        case .proxyProtocol:
            switch value.trimmingWhitespace().lowercased() {
            case "v1", "1": r.proxyProtocol = .v1
            case "v2", "2": r.proxyProtocol = .v2
            case "", "none", "off", "false": r.proxyProtocol = nil
            default: error(key, value, "unknown PROXY protocol version; use v1 or v2")
            }
        case .upstreamProtocol:
            switch value.trimmingWhitespace().lowercased() {
            case "http1", "http/1.1", "": r.upstreamProtocol = .http1
            case "h2c": r.upstreamProtocol = .h2c
            default: error(key, value, "unknown upstream protocol; use http1 or h2c")
            }
        case .connectTimeout, .readTimeout, .sendTimeout, .clientBodyTimeout, .keepaliveTimeout, .upstreamIdleTimeout, .responseHeaderTimeout:
            guard let d = ValueSyntax.duration(value), d > .zero else {
                error(key, value, "not a duration; use nginx syntax such as 30s, 500ms or 2m (more than 0)")
                return
            }
            switch key {
            case .connectTimeout: r.limits.connectTimeout = d
            case .readTimeout: r.limits.readTimeout = d
            case .sendTimeout: r.limits.sendTimeout = d
            case .clientBodyTimeout: r.limits.clientBodyTimeout = d
            case .keepaliveTimeout: r.limits.keepaliveTimeout = d
            case .responseHeaderTimeout: r.limits.responseHeaderTimeout = d
            default: r.limits.upstreamIdleTimeout = d
            }
        case .maxBodySize:
            guard let size = ValueSyntax.size(value) else {
                error(key, value, "not a size; use a byte count with an optional k, m or g suffix such as 10m (0 = no limit)")
                return
            }
            r.limits.clientMaxBodySize = size
        case .maxConnections:
            guard let n = Int(value.trimmingWhitespace()), n >= 0, n <= 1_000_000 else {
                error(key, value, "not a connection count; use a whole number such as 16 (0 = no limit)")
                return
            }
            r.limits.maxConnections = n == 0 ? nil : n
        case .healthPath:
            let path = value.trimmingWhitespace()
            if let reason = Self.pathProblem(path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path) {
                error(key, value, reason)
            } else {
                r.activeHealth = ActiveHealthCheck(path: path)
            }
        case .healthInterval, .healthTimeout:
            guard let d = ValueSyntax.duration(value), d >= .milliseconds(100) else {
                error(key, value, "not a duration of at least 100ms; use nginx syntax such as 5s or 500ms")
                return
            }
            if key == .healthInterval { r.healthInterval = d } else { r.healthTimeout = d }
        case .healthStatus:
            guard let range = Self.statusRange(value) else {
                error(key, value, "not a status or range of statuses; use 200 or 200-399")
                return
            }
            r.healthStatus = range
        case .weight:
            let text = value.trimmingWhitespace()
            guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(text), n <= 10_000 else {
                error(key, value, "not a weight; use an integer from 0 to 10000")
                return
            }
            r.weight = n
        case .balance:
            switch value.trimmingWhitespace().lowercased() {
            case "round_robin": r.balance = .roundRobin
            case "least_conn": r.balance = .leastConnections
            case "": r.balance = nil
            default: error(key, value, "unknown balancing policy; use round_robin or least_conn")
            }
        }
    }

    private mutating func parseRedirects(_ value: String, into r: inout Labels) {
        let pairs = ValueSyntax.list(value, separator: ";")
        if pairs.isEmpty { error(.redirects, value, "no redirect; use source,target pairs separated by ;") }
        for pair in pairs {
            let parts = pair.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
            guard parts.count == 2,
                let source = Self.absoluteURL(parts[0]), source.path.isEmpty,
                let target = Self.absoluteURL(parts[1])
            else {
                error(.redirects, value, "\"\(pair)\" is not a redirect; write http://old.example.org,http://new.example.org (a source has no path)")
                continue
            }
            var t = parts[1]
            while t.hasSuffix("/") { t.removeLast() }
            _ = target
            r.redirects.append(.init(sourceScheme: source.scheme, sourceHost: source.host, target: t))
        }
    }

    private mutating func crossCheck(_ r: inout Labels) {
        if var check = r.activeHealth {
            if let interval = r.healthInterval { check.interval = interval }
            if let timeout = r.healthTimeout { check.timeout = timeout }
            if let status = r.healthStatus { check.expectedStatus = status }
            if check.timeout > check.interval {
                warning(.healthTimeout, written[.healthTimeout] ?? ValueSyntax.text(check.timeout),
                        "longer than the interval; probes of an endpoint never overlap, so the interval is stretched to it")
            }
            r.activeHealth = check
        } else {
            for key in [LabelKey.healthInterval, .healthTimeout, .healthStatus] where written[key] != nil {
                warning(key, written[key]!, "has no effect without com.docker.lb.pier.health_path")
            }
        }
        if r.sslPassthrough {
            for key in [LabelKey.sendTimeout, .clientBodyTimeout, .keepaliveTimeout, .upstreamIdleTimeout, .maxBodySize, .healthPath,
                        .responseHeaderTimeout, .maxConnections]
            where written[key] != nil {
                warning(key, written[key]!, "has no effect with com.docker.lb.ssl_passthrough=true: Pier relays the bytes as they are")
            }
        }
        if r.upstreamProtocol == .h2c, r.limits.maxConnections != nil, let written = written[.maxConnections] {
            warning(.maxConnections, written, "has no effect with com.docker.lb.pier.upstream_protocol=h2c: one HTTP/2 connection per endpoint and event loop carries every request")
        }
        if r.contextRootRewrite, r.contextRoot == "/" {
            warning(.contextRootRewrite, "true", "has no effect without com.docker.lb.context_root")
        }
        // Judged on the labels as written: a malformed one of the pair has its own error already.
        if (written[.sslCert] == nil) != (written[.sslKey] == nil) {
            let key: LabelKey = written[.sslCert] == nil ? .sslKey : .sslCert
            error(key, written[key]!, "ssl_cert and ssl_key must be given together")
        }
        if r.sslPassthrough, r.sslCert != nil {
            warning(.sslCert, r.sslCert!, "has no effect with com.docker.lb.ssl_passthrough=true: the service terminates TLS itself")
        }
        if r.upstreamProtocol == .h2c, r.sslPassthrough {
            warning(.upstreamProtocol, written[.upstreamProtocol] ?? "", "has no effect with com.docker.lb.ssl_passthrough=true: Pier relays the bytes as they are")
        }
        if r.proxyProtocol != nil, !r.sslPassthrough {
            warning(.proxyProtocol, written[.proxyProtocol] ?? "", "has no effect without com.docker.lb.ssl_passthrough=true")
        }
        if !r.websocketEndpoints.isEmpty, r.sslPassthrough {
            warning(.websocketEndpoints, written[.websocketEndpoints] ?? "", "has no effect with com.docker.lb.ssl_passthrough=true: Pier relays the bytes as they are")
        } else if !r.websocketEndpoints.isEmpty, r.upstreamProtocol == .h2c {
            warning(.websocketEndpoints, written[.websocketEndpoints] ?? "", "WebSocket upgrades cannot be forwarded to an h2c upstream; they are refused")
        }
        crossCheckBalancing(r)
        if r.hosts.isEmpty, !r.defaultBackend, r.redirects.isEmpty, !hasErrors {
            error(.hosts, "", "missing: a routed service needs com.docker.lb.hosts (or com.docker.lb.default_backend=true)")
        }
    }

    /// One balancing policy applies: sticky_session_cookie, then ip_hash, then pier.balance; a label that loses
    /// to another is reported.
    private mutating func crossCheckBalancing(_ r: Labels) {
        if let cookie = r.stickySessionCookie, r.sslPassthrough {
            warning(.stickySessionCookie, cookie, "has no effect with com.docker.lb.ssl_passthrough=true: Pier does not see cookies inside TLS it relays; com.docker.lb.ip_hash can pin clients instead")
        }
        let cookie = r.stickySessionCookie != nil && !r.sslPassthrough
        if cookie, r.ipHash {
            warning(.ipHash, written[.ipHash] ?? "true", "has no effect with com.docker.lb.sticky_session_cookie, which takes precedence")
        }
        if r.balance != nil, cookie || r.ipHash {
            let winner = cookie ? LabelKey.stickySessionCookie.label : LabelKey.ipHash.label + "=true"
            warning(.balance, written[.balance] ?? "", "has no effect with \(winner), which takes precedence")
        }
    }

    /// Why `host` is not a valid host name or `*.` wildcard, or nil when it is.
    static func hostProblem(_ host: String) -> String? {
        var bytes = Substring(host).utf8
        let dot = UInt8(ascii: "."), dash = UInt8(ascii: "-")
        if bytes.starts(with: "*.".utf8) { bytes = bytes.dropFirst(2) }
        if bytes.last == dot { bytes = bytes.dropLast() }
        // One pass over the bytes (this runs for every host of every service on every compile).
        var colon = false, star = false, labelsValid = true
        var labelLength = 0
        var previous = dot
        for byte in bytes {
            switch byte {
            case UInt8(ascii: ":"): colon = true
            case UInt8(ascii: "*"): star = true
            default: break
            }
            if byte == dot {
                if labelLength == 0 || previous == dash { labelsValid = false }
                labelLength = 0
            } else {
                if labelLength == 0, byte == dash { labelsValid = false }
                if !(isAlnum(byte) || byte == dash || byte == UInt8(ascii: "_")) { labelsValid = false }
                labelLength += 1
                if labelLength > 63 { labelsValid = false }
            }
            previous = byte
        }
        if labelLength == 0 || previous == dash { labelsValid = false }
        if colon { return "carries a port; list host names only, the port is ignored when matching" }
        if star { return "has a wildcard that is not a leading \"*.\"" }
        guard !bytes.isEmpty, bytes.count <= 253 else { return "is not a host name" }
        guard labelsValid else { return "is not a host name (letters, digits and - in dot-separated labels)" }
        return nil
    }

    /// A valid path prefix as routes hold it: dot segments resolved, no trailing `/` (except `/` itself).
    static func normalizedPath(_ path: String) -> String {
        var normalized = String(RequestPath.removingDotSegments(Substring(path)))
        while normalized.count > 1, normalized.hasSuffix("/") { normalized.removeLast() }
        return normalized
    }

    /// `200` or `200-399`, within 100…599.
    static func statusRange(_ text: String) -> ClosedRange<Int>? {
        let parts = text.trimmingWhitespace().split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let low = Int(parts[0]), let high = Int(parts.last!), (100...599).contains(low),
            (100...599).contains(high), low <= high
        else { return nil }
        return low...high
    }

    /// Why `path` is not an absolute URL path, or nil when it is.
    static func pathProblem(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return "not an absolute path; it must start with /" }
        guard !path.contains("?"), !path.contains("#") else { return "a path has no query or fragment" }
        guard path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return "has spaces or characters outside printable ASCII" }
        return nil
    }

    static func absoluteURL(_ text: String) -> (scheme: String, host: String, path: String)? {
        let lower = text.lowercased()
        let scheme: String
        if lower.hasPrefix("http://") { scheme = "http" } else if lower.hasPrefix("https://") { scheme = "https" } else { return nil }
        let rest = text.dropFirst(scheme.count + 3)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let path = String(rest[slash...])
        var hostOnly = Substring(authority)
        if let colon = authority.lastIndex(of: ":") {
            guard Labels.parsePort(String(authority[authority.index(after: colon)...])) != nil else { return nil }
            hostOnly = authority[..<colon]
        }
        guard hostProblem(String(hostOnly)) == nil, !hostOnly.hasPrefix("*") else { return nil }
        guard path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return (scheme, HostName.normalize(authority), path == "/" ? "" : path)
    }

    static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    static func isTokenByte(_ c: UInt8) -> Bool {
        isAlnum(c) || "!#$%&'*+-.^_`|~".utf8.contains(c)
    }
}

/// A service's label values as written, by key: a handful per service, so a list searched in order costs
/// less than a dictionary (no hashing, one small allocation), which matters for tables of 10,000 services.
private struct Written {
    private var pairs: [(key: LabelKey, value: String)] = []

    subscript(key: LabelKey) -> String? {
        get { pairs.first { $0.key == key }?.value }
        set {
            pairs.removeAll { $0.key == key }
            if let newValue { pairs.append((key, newValue)) }
        }
    }
}
