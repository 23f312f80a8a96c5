/// What `pier explain` found for one request: the TLS step, the route taken and why, what Pier would do, and
/// the routes and services that nearly took the request and why they did not.
///
/// Plain data (strings, numbers, string-valued enums) so that it encodes to stable JSON with the standard
/// library's `Codable` alone: `pier explain --json` prints it, and a live Pier's admin entrypoint can answer
/// with it for `pier explain --admin` to decode and print with the same printer.
public struct Explanation: Sendable, Hashable, Codable {
    /// The request as it was asked about.
    public struct Request: Sendable, Hashable, Codable {
        public var method: String
        /// `http` or `https`: the entrypoint.
        public var entrypoint: String
        /// The `Host` header as given.
        public var host: String
        /// The name routes are matched against (lower case, no port, no trailing dot; empty: not a host name).
        public var name: String
        /// Path and query.
        public var target: String
        /// The normalised SNI (HTTPS only; nil: none sent).
        public var serverName: String?
    }

    /// What the HTTPS entrypoint does with the handshake.
    public struct TLSStep: Sendable, Hashable, Codable {
        public enum Action: String, Sendable, Hashable, Codable {
            case terminate, passthrough, reject
        }
        public var action: Action
        /// The certificate's name (terminate).
        public var certificate: String?
        /// The TLS table pattern that matched the server name; nil: the default certificate (or nothing).
        public var pattern: String?
    }

    /// The route that took the request.
    public struct MatchedRoute: Sendable, Hashable, Codable {
        /// Host pattern (`app.example.com`, `*.example.com`; `*` for the default route).
        public var host: String
        public var contextRoot: String
        public var services: [String]
        /// The entrypoints it applies on.
        public var entrypoints: [String]
        /// Whether the context root is stripped before proxying.
        public var stripContextRoot: Bool
        /// Whether it is the default backend's route (`com.docker.lb.default_backend`).
        public var isDefault: Bool
        public var webSocketPaths: [String]
        /// Why it matched, one sentence.
        public var why: String
    }

    /// An endpoint of a pool.
    public struct EndpointState: Sendable, Hashable, Codable {
        /// `host:port`.
        public var address: String
        /// Its weight, when the pool has weights.
        public var weight: Double?
        /// Its health as a live Pier sees it; nil when unknown (a file or Docker source).
        public var healthy: Bool?
    }

    /// Where a proxied or passed-through request goes.
    public struct Pool: Sendable, Hashable, Codable {
        public var id: Int
        public var services: [String]
        public var endpoints: [EndpointState]
        /// Balancing policy in label vocabulary (`round_robin`, `least_conn`, `ip_hash`, …).
        public var policy: String
        /// `http1` or `h2c`.
        public var upstreamProtocol: String
        /// The service's own timeouts and limits (`read=30s max_conns=10`), empty when none.
        public var limits: String
    }

    /// What Pier does with the request.
    public struct Outcome: Sendable, Hashable, Codable {
        public enum Kind: String, Sendable, Hashable, Codable {
            /// Proxied to `pool`.
            case proxy
            /// Answered with a redirect (`com.docker.lb.redirects`, or the root of a rewritten context root).
            case redirect
            /// Answered with a redirect to HTTPS (`com.docker.lb.ssl_only`).
            case redirectToHTTPS = "redirect_to_https"
            /// 404: the host is known, no context root matches.
            case notFound = "not_found"
            /// 503: no route for the host and no default backend.
            case noRoute = "no_route"
            /// 503: the route's services have no running endpoint.
            case noEndpoint = "no_endpoint"
            /// 421: the connection's certificate is not the one this host is served with.
            case misdirected
            /// The TLS handshake is refused (`unrecognized_name`).
            case tlsReject = "tls_reject"
            /// The TLS bytes are relayed, not terminated (`com.docker.lb.ssl_passthrough`).
            case passthrough
        }
        public var kind: Kind
        /// The status Pier answers with itself; nil when the upstream answers (or no HTTP happens).
        public var status: Int?
        /// One line saying what happens.
        public var summary: String
        /// The pool (proxy, passthrough, no endpoint).
        public var pool: Pool?
        /// The path and query sent upstream (proxy).
        public var upstreamTarget: String?
        /// The redirect's location.
        public var location: String?
        /// The failure cause Pier logs and counts for this outcome (`router.no_route`, …), as in the access log's
        /// `cause=` and the metrics' `kind` label; nil when the request is not a failure of Pier's.
        public var cause: String?
    }

    /// A route or service that did not take the request, and why.
    public struct NearMiss: Sendable, Hashable, Codable {
        public enum Kind: String, Sendable, Hashable, Codable {
            /// Another route of the host: its context root does not prefix the path, or a longer one won.
            case contextRoot = "context_root"
            /// A route of the host on the other entrypoint only (HTTPS only, ssl_only, a redirect, passthrough).
            case otherEntrypoint = "other_entrypoint"
            /// A wildcard route beaten by an exact host or a longer wildcard.
            case shadowedHost = "shadowed_host"
            /// The default backend, which takes unknown hosts only.
            case defaultBackend = "default_backend"
            /// A service that claims the host but is left out for its issues.
            case rejected
            /// A service of another service cluster (served by another Pier).
            case otherCluster = "other_cluster"
            /// A valid service whose request is not active.
            case inactive
            /// A routed service that claims the host but lost it (a conflict).
            case notRoutedForHost = "not_routed_for_host"
            /// A service of the route's pool without a running endpoint.
            case noEndpoint = "no_endpoint"
            /// The Host as given is not the name matched (port, case, trailing dot), or is no host name.
            case hostNormalized = "host_normalized"
        }
        public var kind: Kind
        /// What it is about: a route (`host/root`), a service (`service "web"`), the Host header.
        public var subject: String
        /// Why it did not take the request.
        public var reason: String
        /// The service concerned, if one.
        public var service: String?
        /// The service's issues, for `rejected` and `notRoutedForHost`.
        public var issues: [Issue]
    }

    /// An issue of a service, as `pier check` reports it.
    public struct Issue: Sendable, Hashable, Codable {
        /// `error` or `warning`.
        public var severity: String
        public var key: String?
        public var value: String?
        public var reason: String
    }

    public var request: Request
    /// The generation of the table explained.
    public var generation: UInt64
    /// The HTTPS entrypoint's step; nil on HTTP.
    public var tls: TLSStep?
    /// The route taken; nil when none was (404, 503, a TLS outcome).
    public var route: MatchedRoute?
    public var outcome: Outcome
    public var nearMisses: [NearMiss]
}
