import RouteModel

/// The request `pier explain` asks about: what a client would send, and on which entrypoint.
public struct ExplainRequest: Sendable, Hashable {
    /// The method (`GET`, `POST`…): a redirect to HTTPS keeps it with 308 rather than 301.
    public var method: String
    /// The entrypoint the request arrives on.
    public var scheme: Scheme
    /// The `Host` header as the client sends it (port, case and trailing dot included).
    public var host: String
    /// The request target in origin form: path and optional query.
    public var target: String
    /// The ClientHello's server name on the HTTPS entrypoint; nil: the client sends none.
    public var serverName: String?
    /// The port a redirect to HTTPS names when the table publishes none (`[Config] PublishedHTTPSPort`);
    /// nil or 443: no port in the location.
    public var httpsPort: Int?

    /// Creates a request.
    public init(method: String = "GET", scheme: Scheme = .http, host: String, target: String = "/", serverName: String? = nil,
                httpsPort: Int? = nil) {
        self.method = method
        self.scheme = scheme
        self.host = host
        self.target = target.hasPrefix("/") ? target : "/" + target
        self.serverName = serverName
        self.httpsPort = httpsPort
    }

    /// Parses `http://host[:port]/path?query` or `https://…`; for `https` the server name is the URL's host
    /// (without its port), as a browser sends it. Nil when `url` is not such a URL (no scheme, no host, user
    /// information, a fragment is dropped).
    public init?(url: String, method: String = "GET", httpsPort: Int? = nil) {
        let scheme: Scheme
        let rest: Substring
        if url.lowercased().hasPrefix("http://") {
            scheme = .http
            rest = url.dropFirst(7)
        } else if url.lowercased().hasPrefix("https://") {
            scheme = .https
            rest = url.dropFirst(8)
        } else {
            return nil
        }
        let withoutFragment = rest.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let end = withoutFragment.firstIndex { $0 == "/" || $0 == "?" } ?? withoutFragment.endIndex
        let authority = String(withoutFragment[..<end])
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let tail = withoutFragment[end...]
        self.init(method: method, scheme: scheme, host: authority, target: tail.hasPrefix("/") ? String(tail) : "/" + tail,
                  serverName: scheme == .https ? Self.nameWithoutPort(authority) : nil, httpsPort: httpsPort)
    }

    /// This request with the parts `pier explain`'s options give replaced: `host` (the SNI follows it on
    /// HTTPS), `path` (path and query), `https` (moves a plain request to the HTTPS entrypoint, SNI = host) and
    /// `serverName` (`""`: no SNI; implies HTTPS).
    public func replacing(host: String? = nil, path: String? = nil, https: Bool = false, serverName: String? = nil) -> ExplainRequest {
        var request = self
        if let host {
            request.host = host
            if request.scheme == .https { request.serverName = Self.nameWithoutPort(host) }
        }
        if let path { request.target = path.hasPrefix("/") ? path : "/" + path }
        if https || serverName != nil, request.scheme == .http {
            request.scheme = .https
            request.serverName = Self.nameWithoutPort(request.host)
        }
        if let serverName { request.serverName = serverName.isEmpty ? nil : serverName }
        return request
    }

    /// `host` of `host:port` or `[v6]:port`, as written.
    static func nameWithoutPort(_ authority: String) -> String {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") { return String(authority[...close]) }
        if let colon = authority.lastIndex(of: ":") { return String(authority[..<colon]) }
        return authority
    }
}
