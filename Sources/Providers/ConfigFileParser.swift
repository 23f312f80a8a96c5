import LabelConfig
import RouteModel

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
    }
}

/// Reads the standalone TOML configuration. A syntax error makes the whole file invalid (the caller keeps
/// its previous table); a bad key or value is an issue that names it, and the rest of the file still applies.
public enum ConfigFileParser {
    /// Keys of `[Config]` Pier reads, with Interlock's names where they overlap.
    static let configKeys = [
        "ConnectTimeout", "ReadTimeout", "SendTimeout", "KeepaliveTimeout", "ClientMaxBodySize",
        "LargeClientHeaderBuffers", "HideInfoHeaders", "AccessLog", "ProxyID", "UpstreamKeepaliveTimeout",
        "UpstreamMaxIdleConnections", "ClientBodyTimeout", "SSLProtocols", "SSLCiphers", "PublishedSSLPort",
        "SecretsDirectory", "DefaultCertificate", "DefaultCertificateKey", "TLSHandshakeTimeout", "ClientHeaderTimeout",
        "UnderscoresInHeaders", "ResponseHeaderTimeout", "AdminTokenFile",
    ]
    /// Interlock NGINX keys that have no meaning for Pier; accepted with a warning so that an Interlock
    /// configuration can be reused as it is.
    static let interlockOnlyKeys: Set<String> = [
        "Version", "HTTPVersion", "User", "PidPath", "MaxConnections", "IPHash", "AdminUser", "AdminPass",
        "SSLOpts", "SSLDefaultDHParam", "SSLDefaultDHParamPath", "SSLVerify", "WorkerProcesses", "RLimitNoFile",
        "RlimitNoFile", "ClientBodyBufferSize", "ClientHeaderBufferSize",
        "ServerNamesHashBucketSize", "UpstreamZoneSize",
        "GlobalOptions", "HTTPOptions", "TCPOptions", "AccessLogPath", "ErrorLogPath", "MainLogFormat",
        "TraceLogFormat",
    ]
    static let topKeys = ["Entrypoints", "ServiceCluster", "Config", "Services"]
    static let serviceKeys = ["Name", "Endpoints", "Labels"]

    /// Parses `text`. Returns nil with at least one error issue when the file cannot be used at all.
    public static func parse(_ text: String) -> (StandaloneConfiguration?, [RouteIssue]) {
        let root: TOMLTable
        do {
            root = try TOMLReader.parse(text)
        } catch {
            return (nil, [RouteIssue(.error, service: nil, reason: "configuration is not valid TOML: \(error)")])
        }
        var issues: [RouteIssue] = []
        var config = StandaloneConfiguration()
        unknownKeys(root, known: topKeys, where: nil, into: &issues)

        if let value = root["ServiceCluster"] {
            if let s = value.string { config.serviceCluster = s.trimmingCharacters(in: " \t") } else { issues.append(typeIssue("ServiceCluster", "a string")) }
        }
        if let value = root["Entrypoints"] {
            if let table = value.table { parseEntrypoints(table, into: &config, issues: &issues) } else { issues.append(typeIssue("Entrypoints", "a table")) }
        }
        if let value = root["Config"] {
            if let table = value.table {
                parseSettings(table, into: &config.settings, issues: &issues)
                parseTLSFiles(table, into: &config, issues: &issues)
            } else {
                issues.append(typeIssue("Config", "a table"))
            }
        }
        if let value = root["Services"] {
            if let array = value.array {
                for (i, element) in array.enumerated() {
                    guard let table = element.table else {
                        issues.append(typeIssue(servicePosition(i), "a table ([[Services]])"))
                        continue
                    }
                    if let service = parseService(table, index: i, issues: &issues) { config.services.append(service) }
                }
            } else {
                issues.append(typeIssue("Services", "an array of tables ([[Services]])"))
            }
        }
        return (config, issues)
    }

    /// Where a service without a usable name sits, counted from 1 in file order (`the 5th [[Services]]`):
    /// a 0-based `Services[4]` made users look at the wrong table.
    static func servicePosition(_ index: Int) -> String {
        let n = index + 1
        let suffix = (11...13).contains(n % 100) ? "th" : [1: "st", 2: "nd", 3: "rd"][n % 10] ?? "th"
        return "the \(n)\(suffix) [[Services]]"
    }

    private static func typeIssue(_ key: String, _ expected: String, service: String? = nil, value: String? = nil) -> RouteIssue {
        RouteIssue(.error, service: service, key: key, value: value, reason: "must be \(expected)")
    }

    private static func unknownKeys(_ table: TOMLTable, known: [String], where context: String?, service: String? = nil, into issues: inout [RouteIssue]) {
        for key in table.keys where !known.contains(key) {
            if context == "Config", interlockOnlyKeys.contains(key) {
                issues.append(RouteIssue(.warning, service: nil, key: "Config.\(key)", reason: "Interlock NGINX key with no effect in Pier; ignored"))
                continue
            }
            var reason = "unknown key"
            let best = known.min { editDistanceCI(key, $0) < editDistanceCI(key, $1) }
            if let best, editDistanceCI(key, best) <= max(2, best.count / 3) { reason += "; did you mean \(best)?" }
            let qualified = context.map { "\($0).\(key)" } ?? key
            issues.append(RouteIssue(.error, service: service, key: qualified, reason: reason + "; ignored"))
        }
    }

    private static func editDistanceCI(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased().utf8), b = Array(b.lowercased().utf8)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }

    private static func parseEntrypoints(_ table: TOMLTable, into config: inout StandaloneConfiguration, issues: inout [RouteIssue]) {
        unknownKeys(table, known: ["HTTP", "HTTPS", "Admin"], where: "Entrypoints", into: &issues)
        if let value = table["Admin"] {
            if value.string == "" || value.string == "none" {
                config.adminHost = nil
            } else if let (host, port) = StandaloneConfiguration.parseListenAddress(value.string ?? "") {
                config.adminHost = host
                config.adminPort = port
            } else {
                issues.append(RouteIssue(.error, service: nil, key: "Entrypoints.Admin", value: value.string ?? "\(value)", reason: "must be \"address:port\", e.g. \"127.0.0.1:8081\", or \"none\""))
            }
        }
        if let value = table["HTTPS"] {
            if value.string == "" {
                config.httpsHost = nil
            } else if let (host, port) = StandaloneConfiguration.parseListenAddress(value.string ?? "") {
                config.httpsHost = host
                config.httpsPort = port
            } else {
                issues.append(RouteIssue(.error, service: nil, key: "Entrypoints.HTTPS", value: value.string ?? "\(value)", reason: "must be \"address:port\", e.g. \"0.0.0.0:8443\", or \"\" for none"))
            }
        }
        guard let value = table["HTTP"] else { return }
        // Port 0 asks the system for a free port (the log says which).
        guard let (host, port) = StandaloneConfiguration.parseListenAddress(value.string ?? "") else {
            issues.append(RouteIssue(.error, service: nil, key: "Entrypoints.HTTP", value: value.string ?? "\(value)", reason: "must be \"address:port\", e.g. \"0.0.0.0:8080\""))
            return
        }
        config.httpHost = host
        config.httpPort = port
    }

    private static func parseSettings(_ table: TOMLTable, into s: inout ProxySettings, issues: inout [RouteIssue]) {
        unknownKeys(table, known: configKeys, where: "Config", into: &issues)
        func duration(_ key: String) -> Duration? {
            guard let value = table[key] else { return nil }
            if let n = value.int, n >= 0 { return .seconds(n) }
            if let text = value.string, let d = ValueSyntax.duration(text) { return d }
            issues.append(RouteIssue(.error, service: nil, key: "Config.\(key)", value: value.string ?? "\(value)", reason: "must be seconds or a duration such as \"75s\"; default kept"))
            return nil
        }
        func bool(_ key: String) -> Bool? {
            guard let value = table[key] else { return nil }
            if let b = value.bool { return b }
            issues.append(typeIssue("Config.\(key)", "true or false"))
            return nil
        }
        if let d = duration("ConnectTimeout") { s.connectTimeout = d }
        if let d = duration("ReadTimeout") { s.readTimeout = d }
        if let d = duration("SendTimeout") { s.sendTimeout = d }
        if let d = duration("ClientBodyTimeout") { s.clientBodyTimeout = d }
        if let d = duration("KeepaliveTimeout") { s.keepaliveTimeout = d }
        if let d = duration("ClientHeaderTimeout") { s.clientHeaderTimeout = d }
        if let d = duration("ResponseHeaderTimeout") { s.responseHeaderTimeout = d }
        if let d = duration("UpstreamKeepaliveTimeout") { s.upstreamIdleTimeout = d }
        if let value = table["ClientMaxBodySize"] {
            if let n = value.int, n >= 0 { s.clientMaxBodySize = Int64(n) }
            else if let text = value.string, let n = ValueSyntax.size(text) { s.clientMaxBodySize = n }
            else { issues.append(RouteIssue(.error, service: nil, key: "Config.ClientMaxBodySize", value: value.string ?? "\(value)", reason: "must be a size such as \"32m\" (0 = no limit); default kept")) }
        }
        if let value = table["LargeClientHeaderBuffers"] {
            let parts = (value.string ?? "").split(separator: " ").map(String.init)
            if parts.count == 2, let n = Int(parts[0]), n > 0, n <= 1024, let size = ValueSyntax.size(parts[1]), size > 0,
                size <= 1 << 20, Int64(n) * size <= 1 << 20 {
                s.maxHeaderSize = n * Int(size)
            } else {
                issues.append(RouteIssue(.error, service: nil, key: "Config.LargeClientHeaderBuffers", value: value.string ?? "\(value)", reason: "must be \"<count> <size>\" such as \"4 8k\" (at most 1m in all); default kept"))
            }
        }
        if let b = bool("HideInfoHeaders") { s.hideInfoHeaders = b }
        if let b = bool("UnderscoresInHeaders") { s.underscoresInHeaders = b }
        if let b = bool("AccessLog") { s.accessLog = b }
        if let value = table["ProxyID"] {
            if let text = value.string, !text.isEmpty, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { s.proxyID = text }
            else { issues.append(typeIssue("Config.ProxyID", "a non-empty string of visible ASCII")) }
        }
        if let value = table["SSLProtocols"] {
            // nginx syntax: a space-separated list; Pier offers the range from the lowest to the highest.
            let names = (value.string ?? "").split(separator: " ").map(String.init)
            let versions = names.compactMap(RouteModel.TLSVersion.init(nginxName:))
            if !names.isEmpty, versions.count == names.count, let low = versions.min(), let high = versions.max() {
                s.tlsPolicy.minimumVersion = low
                s.tlsPolicy.maximumVersion = high
            } else {
                issues.append(RouteIssue(.error, service: nil, key: "Config.SSLProtocols", value: value.string ?? "\(value)", reason: "must list TLS versions such as \"TLSv1.2 TLSv1.3\"; default kept"))
            }
        }
        if let value = table["SSLCiphers"] {
            if let text = value.string, let problem = CertificateFiles.cipherProblem(text) {
                issues.append(RouteIssue(.error, service: nil, key: "Config.SSLCiphers", value: text, reason: problem + "; default kept"))
            } else if let text = value.string {
                s.tlsPolicy.ciphers = String(text.filter { !$0.isWhitespace })
            } else {
                issues.append(typeIssue("Config.SSLCiphers", "a string of cipher names separated by colons"))
            }
        }
        if let value = table["PublishedSSLPort"] {
            if let n = value.int, (1...65535).contains(n) { s.publishedHTTPSPort = n } else { issues.append(typeIssue("Config.PublishedSSLPort", "a port number")) }
        }
        if let d = duration("TLSHandshakeTimeout") { s.tlsHandshakeTimeout = d }
        if let value = table["UpstreamMaxIdleConnections"] {
            if let n = value.int, n >= 0 { s.maxIdleUpstreamConnections = n } else { issues.append(typeIssue("Config.UpstreamMaxIdleConnections", "a non-negative integer")) }
        }
    }

    private static func parseTLSFiles(_ table: TOMLTable, into config: inout StandaloneConfiguration, issues: inout [RouteIssue]) {
        func string(_ key: String) -> String? {
            guard let value = table[key] else { return nil }
            guard let text = value.string, !text.isEmpty else {
                issues.append(typeIssue("Config.\(key)", "a non-empty string"))
                return nil
            }
            return text
        }
        if let directory = string("SecretsDirectory") { config.secretsDirectory = directory }
        if let file = string("AdminTokenFile") { config.adminTokenFile = file }
        let certificate = string("DefaultCertificate"), key = string("DefaultCertificateKey")
        if let certificate, let key {
            config.defaultCertificate = CertificateNames(certificate: certificate, key: key)
        } else if certificate != nil || key != nil {
            issues.append(RouteIssue(.error, service: nil, key: certificate == nil ? "Config.DefaultCertificateKey" : "Config.DefaultCertificate",
                                     reason: "DefaultCertificate and DefaultCertificateKey must be given together; no default certificate"))
        }
    }

    /// Label keys may be quoted (`"com.docker.lb.hosts" = …`) or written as dotted keys, which TOML turns
    /// into nested tables; both give the same flat label names.
    private static func flatten(_ table: TOMLTable, prefix: String, service: String, into labels: inout [String: String], issues: inout [RouteIssue]) {
        for (key, v) in table {
            let full = prefix + key
            if let text = v.string { labels[full] = text }
            else if let b = v.bool { labels[full] = b ? "true" : "false" }
            else if let n = v.int { labels[full] = String(n) }
            else if let nested = v.table { flatten(nested, prefix: full + ".", service: service, into: &labels, issues: &issues) }
            else { issues.append(RouteIssue(.error, service: service, key: full, reason: "label values are strings")) }
        }
    }

    private static func parseService(_ table: TOMLTable, index: Int, issues: inout [RouteIssue]) -> ServiceDescription? {
        guard let name = table["Name"]?.string, !name.isEmpty else {
            issues.append(RouteIssue(.error, service: nil, key: "Name of " + servicePosition(index), reason: "missing: every service needs a Name; service ignored"))
            return nil
        }
        unknownKeys(table, known: serviceKeys, where: "Services", service: name, into: &issues)
        var labels: [String: String] = [:]
        if let value = table["Labels"] {
            guard let labelTable = value.table else {
                issues.append(typeIssue("Labels", "a table of strings", service: name))
                return nil
            }
            flatten(labelTable, prefix: "", service: name, into: &labels, issues: &issues)
        }
        var endpoints: [ServiceDescription.Address] = []
        if let value = table["Endpoints"] {
            guard let array = value.array else {
                issues.append(typeIssue("Endpoints", "an array of \"host:port\" strings", service: name))
                return nil
            }
            for element in array {
                guard let text = element.string, let address = ServiceDescription.Address(parsing: text) else {
                    issues.append(RouteIssue(.error, service: name, key: "Endpoints", value: element.string ?? "\(element)", reason: "not an endpoint; write \"host:port\" or \"host\" with com.docker.lb.port; service not routed"))
                    return nil
                }
                endpoints.append(address)
            }
        }
        return ServiceDescription(name: name, labels: labels, endpoints: endpoints)
    }
}
