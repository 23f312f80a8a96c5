import RouteModel

/// A service as every provider describes it: a name, its labels and the endpoints that run it.
///
/// The file provider reads these from the configuration file; the Swarm provider builds them from services
/// and tasks. The label vocabulary and the table compiler never know which.
public struct ServiceDescription: Hashable, Sendable {
    /// An endpoint as the provider knows it; the port may come from `com.docker.lb.port`.
    public struct Address: Hashable, Sendable, CustomStringConvertible {
        /// IP address or host name.
        public var host: String
        /// Port, when the provider knows it (a file endpoint `host:port`, a host-mode published port).
        public var port: Int?

        /// Creates an address.
        public init(host: String, port: Int?) {
            self.host = host
            self.port = port
        }

        /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`; nil when malformed.
        public init?(parsing text: String) {
            let trimmed = text.trimmingWhitespace()
            guard !trimmed.isEmpty else { return nil }
            if trimmed.hasPrefix("[") {
                guard let close = trimmed.firstIndex(of: "]") else { return nil }
                host = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
                let rest = trimmed[trimmed.index(after: close)...]
                if rest.isEmpty {
                    port = nil
                } else {
                    guard rest.first == ":", let p = Labels.parsePort(String(rest.dropFirst())) else { return nil }
                    port = p
                }
                guard !host.isEmpty else { return nil }
                return
            }
            let parts = trimmed.split(separator: ":", omittingEmptySubsequences: false)
            switch parts.count {
            case 1:
                host = trimmed
                port = nil
            case 2:
                guard !parts[0].isEmpty, let p = Labels.parsePort(String(parts[1])) else { return nil }
                host = String(parts[0])
                port = p
            default:
                return nil
            }
            guard host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) else {
                return nil
            }
        }

        public var description: String {
            let h = host.contains(":") ? "[\(host)]" : host
            return port.map { "\(h):\($0)" } ?? h
        }
    }

    /// The service's name, unique within a provider.
    public var name: String
    /// All its labels; only `com.docker.lb.*` ones are read.
    public var labels: [String: String]
    /// The endpoints that currently run it (running tasks, or the file's list).
    public var endpoints: [Address]

    /// Creates a description.
    public init(name: String, labels: [String: String], endpoints: [Address]) {
        self.name = name
        self.labels = labels
        self.endpoints = endpoints
    }
}

extension StringProtocol {
    /// The string without leading and trailing ASCII spaces, tabs and line breaks. Works on UTF-8 bytes:
    /// it runs for every label of every service at each compile.
    func trimmingWhitespace() -> String {
        let text = Substring(self)
        let bytes = text.utf8
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = bytes.lastIndex(where: { !isSpace($0) })!
        return String(text[first...last])
    }
}

extension String {
    /// As for any `StringProtocol`, but a string with nothing to trim (the usual case) comes back as it is,
    /// without a copy.
    func trimmingWhitespace() -> String {
        func isSpace(_ c: UInt8?) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
        if !isSpace(utf8.first), !isSpace(utf8.last) { return self }
        return Substring(self).trimmingWhitespace()
    }
}
