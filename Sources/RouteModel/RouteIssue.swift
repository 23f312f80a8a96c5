/// A problem found while turning service labels or configuration into a route table.
///
/// Every issue names what it is about (service, key, value) and why, so that `pier check`, the logs and the
/// API can print it as it is. Errors leave something out of the table; warnings do not.
public struct RouteIssue: Hashable, Sendable, CustomStringConvertible {
    /// How bad the issue is.
    public enum Severity: String, Sendable, Hashable, Comparable {
        /// The service (or the named part of it) is not routed.
        case error
        /// The service routes, but something in its labels is ignored or not yet active.
        case warning

        public static func < (lhs: Severity, rhs: Severity) -> Bool {
            lhs == .error && rhs == .warning
        }
    }

    /// How bad it is.
    public var severity: Severity
    /// The service the issue is about, or nil for configuration-wide issues.
    public var service: String?
    /// The label or configuration key at fault, if any.
    public var key: String?
    /// The offending value, if any (never a secret's content).
    public var value: String?
    /// Why it is a problem, and what to do about it where that is known.
    public var reason: String

    /// Creates an issue.
    public init(_ severity: Severity, service: String?, key: String? = nil, value: String? = nil, reason: String) {
        self.severity = severity
        self.service = service
        self.key = key
        self.value = value
        self.reason = reason
    }

    /// One line: `error: service "web": com.docker.lb.port="80x": not a port number …`.
    public var description: String { "\(severity.rawValue): " + detail }

    /// The line without its severity, for logs, whose level already says it:
    /// `service "web": com.docker.lb.port="80x": not a port number …`.
    public var detail: String {
        var line = ""
        if let service { line += "service \"\(service)\": " }
        if let key {
            line += key
            if let value { line += "=\"\(value)\"" }
            line += ": "
        }
        return line + reason
    }
}
