import RouteModel

/// What the handlers of one downstream connection know about how it came in: which entrypoint, on which
/// port, and for terminated TLS which name the client asked for and which certificate it got.
struct Downstream: Sendable {
    /// Terminated TLS of the connection.
    struct TLS: Sendable {
        /// The ClientHello's server name, normalised; nil without SNI.
        var serverName: String?
        /// The name of the certificate presented.
        var certificateName: String
    }

    /// The entrypoint's scheme (`X-Forwarded-Proto`).
    var scheme: Scheme
    /// The port the client connected to (`X-Forwarded-Port`); nil when unknown.
    var port: Int?
    /// The HTTPS entrypoint's port, for redirects to HTTPS when the settings name no published port.
    var httpsPort: Int?
    /// Set on terminated TLS connections.
    var tls: TLS?
    /// Whether the handler serves one HTTP/2 stream rather than a whole connection.
    var multiplexed = false
    /// The client's address, when known before the handler starts (HTTP/2 streams share their connection's).
    var clientIP: String?

    /// A plain HTTP connection.
    static let http = Downstream(scheme: .http, port: nil, httpsPort: nil, tls: nil)

    /// Creates a description.
    init(scheme: Scheme, port: Int?, httpsPort: Int?, tls: TLS?, multiplexed: Bool = false) {
        self.scheme = scheme
        self.port = port
        self.httpsPort = httpsPort
        self.tls = tls
        self.multiplexed = multiplexed
    }
}
