/// Proxy-wide settings that belong to the route table snapshot, so that they reload with it.
///
/// Key names follow Interlock's NGINX extension configuration where they overlap (see docs/labels.md).
public struct ProxySettings: Hashable, Sendable {
    /// Time allowed to establish an upstream connection (`ConnectTimeout`).
    public var connectTimeout: Duration
    /// Time allowed between two reads from the upstream, response head included (`ReadTimeout`); past it a
    /// request that has no response yet gets 504.
    public var readTimeout: Duration
    /// Time the upstream may take no request body while Pier holds the client's reads (`SendTimeout`); past it 504.
    public var sendTimeout: Duration
    /// Time allowed between two reads of a request body (`ClientBodyTimeout`); past it 408.
    public var clientBodyTimeout: Duration
    /// How long an idle downstream keep-alive connection stays open (`KeepaliveTimeout`).
    public var keepaliveTimeout: Duration
    /// Time a client has to send a whole request head once its first byte arrived (`ClientHeaderTimeout`);
    /// past it 408 and the connection closes (slowloris).
    public var clientHeaderTimeout: Duration
    /// How long an idle pooled upstream connection is kept.
    public var upstreamIdleTimeout: Duration
    /// Largest request body accepted, in bytes (`ClientMaxBodySize`); nil or 0 means no limit.
    public var clientMaxBodySize: Int64?
    /// Largest request header section accepted, in bytes (`LargeClientHeaderBuffers`, count × size); past it 431.
    public var maxHeaderSize: Int
    /// Time an upstream has to send its whole response head once its first byte arrived
    /// (`ResponseHeaderTimeout`, a Pier extension); past it 504. `readTimeout` bounds the wait for that first
    /// byte and the gaps between reads; this bounds an upstream that trickles its head a line at a time.
    public var responseHeaderTimeout: Duration
    /// Forward request header names that contain `_` (`UnderscoresInHeaders`, nginx's `underscores_in_headers`).
    /// Off by default, as in nginx and so Interlock: an application that reads headers as CGI-style variables
    /// cannot tell `X-Auth_User` from `X-Auth-User`, so a client could pass one for the other.
    public var underscoresInHeaders: Bool
    /// Hide Interlock's info headers (x-request-id stays on the upstream request) (`HideInfoHeaders`).
    public var hideInfoHeaders: Bool
    /// Value of the `x-proxy-id` response header (`ProxyID`).
    public var proxyID: String
    /// Write one access log line per request.
    public var accessLog: Bool
    /// Idle upstream connections kept per endpoint and event loop.
    public var maxIdleUpstreamConnections: Int
    /// TLS versions and ciphers of the HTTPS entrypoint (`SSLProtocols`, `SSLCiphers`).
    public var tlsPolicy: TLSPolicy
    /// The port clients reach the HTTPS entrypoint on, for redirects to HTTPS (`PublishedSSLPort`); nil: the
    /// port the HTTPS entrypoint listens on.
    public var publishedHTTPSPort: Int?
    /// Time a client has to send its whole TLS ClientHello on the HTTPS entrypoint.
    public var tlsHandshakeTimeout: Duration

    /// Creates settings; every argument has the documented default.
    public init(
        connectTimeout: Duration = .seconds(5),
        readTimeout: Duration = .seconds(600),
        sendTimeout: Duration = .seconds(600),
        clientBodyTimeout: Duration = .seconds(60),
        keepaliveTimeout: Duration = .seconds(75),
        clientHeaderTimeout: Duration = .seconds(60),
        responseHeaderTimeout: Duration = .seconds(60),
        underscoresInHeaders: Bool = false,
        upstreamIdleTimeout: Duration = .seconds(60),
        clientMaxBodySize: Int64? = 32 * 1024 * 1024,
        maxHeaderSize: Int = 32 * 1024,
        hideInfoHeaders: Bool = false,
        proxyID: String = "pier",
        accessLog: Bool = true,
        maxIdleUpstreamConnections: Int = 128,
        tlsPolicy: TLSPolicy = TLSPolicy(),
        publishedHTTPSPort: Int? = nil,
        tlsHandshakeTimeout: Duration = .seconds(10)
    ) {
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.sendTimeout = sendTimeout
        self.clientBodyTimeout = clientBodyTimeout
        self.keepaliveTimeout = keepaliveTimeout
        self.clientHeaderTimeout = clientHeaderTimeout
        self.responseHeaderTimeout = responseHeaderTimeout
        self.underscoresInHeaders = underscoresInHeaders
        self.upstreamIdleTimeout = upstreamIdleTimeout
        self.clientMaxBodySize = clientMaxBodySize
        self.maxHeaderSize = maxHeaderSize
        self.hideInfoHeaders = hideInfoHeaders
        self.proxyID = proxyID
        self.accessLog = accessLog
        self.maxIdleUpstreamConnections = maxIdleUpstreamConnections
        self.tlsPolicy = tlsPolicy
        self.publishedHTTPSPort = publishedHTTPSPort
        self.tlsHandshakeTimeout = tlsHandshakeTimeout
    }
}
