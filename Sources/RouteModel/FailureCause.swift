/// Why an exchange or a connection failed, as a value: which side failed, what kind of failure, and whether a
/// retry was possible (pingora's `Error { etype, esource, retry }`).
///
/// The status code Pier answers, the access log's `cause=`, metric labels and the dashboard all derive from
/// it, so that none of them parses a message. `Kind` is closed and small: it is a metric label.
public struct FailureCause: Sendable, Hashable, CustomStringConvertible {
    /// Who is at fault.
    public enum Side: String, Sendable, Hashable, CaseIterable {
        /// The client: what it sent, how slowly, or that it left.
        case downstream
        /// Pier's routing and limits: nothing is routed for the request, or no endpoint may take it.
        case router
        /// The backend: it refused, timed out, closed or answered something unusable.
        case upstream
    }

    /// What happened. The raw value is the name logs and metrics use.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        // Downstream.
        case malformedRequest = "malformed_request"
        case headerTooLarge = "header_too_large"
        case bodyTooLarge = "body_too_large"
        case expectationFailed = "expectation_failed"
        case clientHeadTimeout = "client_head_timeout"
        case bodyTimeout = "body_timeout"
        case misdirected
        case webSocketRefused = "websocket_refused"
        case webSocketNotGET = "websocket_not_get"
        case webSocketToH2C = "websocket_to_h2c"
        case clientClosed = "client_closed"
        // Router.
        case noRoute = "no_route"
        case noContextRoot = "no_context_root"
        case noEndpoint = "no_endpoint"
        case endpointsAtLimit = "endpoints_at_limit"
        // Upstream.
        case connectRefused = "connect_refused"
        case connectTimeout = "connect_timeout"
        case closedBeforeResponse = "closed_before_response"
        case invalidResponse = "invalid_response"
        case unexpectedSwitch = "unexpected_switch"
        case sendTimeout = "send_timeout"
        case upstreamHeadTimeout = "head_timeout"
        case readTimeout = "read_timeout"
        case closedMidResponse = "closed_mid_response"
        // TLS, at the connection level (no HTTP response: logs and metrics only).
        case tlsNoCertificate = "tls_no_certificate"
        case tlsHandshakeFailed = "tls_handshake_failed"
        case tlsHandshakeTimeout = "tls_handshake_timeout"
        case certificateUnusable = "certificate_unusable"

        /// Which side a failure of this kind lies with.
        public var side: Side {
            switch self {
            case .malformedRequest, .headerTooLarge, .bodyTooLarge, .expectationFailed, .clientHeadTimeout, .bodyTimeout,
                 .misdirected, .webSocketRefused, .webSocketNotGET, .webSocketToH2C, .clientClosed,
                 .tlsNoCertificate, .tlsHandshakeFailed, .tlsHandshakeTimeout:
                return .downstream
            case .noRoute, .noContextRoot, .noEndpoint, .endpointsAtLimit, .certificateUnusable:
                return .router
            case .connectRefused, .connectTimeout, .closedBeforeResponse, .invalidResponse, .unexpectedSwitch, .sendTimeout,
                 .upstreamHeadTimeout, .readTimeout, .closedMidResponse:
                return .upstream
            }
        }

        /// The status Pier answers for it; nil when no response can be written (the client is gone, a
        /// response was already under way, or the failure is below HTTP).
        public var status: Int? {
            switch self {
            case .malformedRequest, .webSocketNotGET: return 400
            case .webSocketRefused: return 403
            case .noContextRoot: return 404
            case .clientHeadTimeout, .bodyTimeout: return 408
            case .bodyTooLarge: return 413
            case .expectationFailed: return 417
            case .misdirected: return 421
            case .headerTooLarge: return 431
            case .webSocketToH2C: return 501
            case .connectRefused, .closedBeforeResponse, .invalidResponse, .unexpectedSwitch: return 502
            case .noRoute, .noEndpoint, .endpointsAtLimit: return 503
            case .connectTimeout, .sendTimeout, .upstreamHeadTimeout, .readTimeout: return 504
            case .clientClosed, .closedMidResponse, .tlsNoCertificate, .tlsHandshakeFailed, .tlsHandshakeTimeout, .certificateUnusable:
                return nil
            }
        }

        /// A short sentence for people (dashboard, logs); the response body carries its own detail.
        public var summary: String {
            switch self {
            case .malformedRequest: return "the client sent a malformed request"
            case .headerTooLarge: return "the request's header section is over the limit"
            case .bodyTooLarge: return "the request body is over the limit"
            case .expectationFailed: return "the request has an Expect other than 100-continue"
            case .clientHeadTimeout: return "the request head did not arrive in time"
            case .bodyTimeout: return "the request body stalled"
            case .misdirected: return "the request is for a host this TLS connection was not set up for"
            case .webSocketRefused: return "WebSocket upgrades are not accepted on this path"
            case .webSocketNotGET: return "the WebSocket handshake is not a GET without a body"
            case .webSocketToH2C: return "the service's endpoints speak h2c, which cannot carry WebSocket"
            case .clientClosed: return "the client closed the connection"
            case .noRoute: return "no service is routed for this host"
            case .noContextRoot: return "no context root of this host matches the path"
            case .noEndpoint: return "the service has no running endpoint"
            case .endpointsAtLimit: return "every endpoint of the service is at its connection limit or out of rotation"
            case .connectRefused: return "the upstream refused the connection"
            case .connectTimeout: return "the upstream did not accept the connection in time"
            case .closedBeforeResponse: return "the upstream closed the connection before responding"
            case .invalidResponse: return "the upstream sent an invalid response"
            case .unexpectedSwitch: return "the upstream switched protocols unasked"
            case .sendTimeout: return "the upstream did not take the request body in time"
            case .upstreamHeadTimeout: return "the upstream did not send its whole response head in time"
            case .readTimeout: return "the upstream did not answer within the read timeout"
            case .closedMidResponse: return "the upstream closed the connection mid-response"
            case .tlsNoCertificate: return "no certificate for the requested server name"
            case .tlsHandshakeFailed: return "the TLS handshake failed"
            case .tlsHandshakeTimeout: return "the TLS handshake did not finish in time"
            case .certificateUnusable: return "the certificate could not be loaded"
            }
        }
    }

    /// What became of retrying the request elsewhere.
    public enum Retry: String, Sendable, Hashable, CaseIterable {
        /// Retrying is not a question for this failure (the client's or the router's, a timeout Pier does not
        /// retry, or one after the response started).
        case notApplicable = "not_applicable"
        /// The request was retried once already; this is the last attempt's failure.
        case done
        /// The method is not idempotent and the request reached the upstream.
        case notIdempotent = "not_idempotent"
        /// The request cannot be sent again: its body was streamed and not kept, or it is a WebSocket handshake.
        case bodyNotReplayable = "body_not_replayable"
        /// Another endpoint was there but the pool's retry budget was spent.
        case budgetExhausted = "budget_exhausted"
        /// No other endpoint of the pool could take the request.
        case noOtherEndpoint = "no_other_endpoint"
    }

    public var kind: Kind
    public var retry: Retry

    /// Creates a cause; `retry` says what became of retrying (only upstream failures have anything to say).
    public init(_ kind: Kind, retry: Retry = .notApplicable) {
        self.kind = kind
        self.retry = retry
    }

    /// Which side failed (derived from the kind: one kind, one side).
    public var side: Side { kind.side }

    /// A retry was possible for this request (idempotent, replayable, nothing relayed yet), taken or not.
    public var retryable: Bool { retry == .done || retry == .budgetExhausted || retry == .noOtherEndpoint }

    /// The status Pier answers; nil when no response is written.
    public var status: Int? { kind.status }

    /// For people: what happened.
    public var summary: String { kind.summary }

    /// `side.kind`, as the access log's `cause=` writes it: `upstream.connect_timeout`.
    public var description: String { side.rawValue + "." + kind.rawValue }
}
