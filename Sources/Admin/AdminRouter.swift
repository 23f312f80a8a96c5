import LabelConfig
import Publishing
import RouteModel

/// One request to the admin entrypoint, as the router needs it.
public struct AdminRequest: Sendable, Equatable {
    /// `GET`, `HEAD`, …
    public var method: String
    /// The request target (path and query).
    public var uri: String
    /// The `Authorization` header, if any.
    public var authorization: String?

    /// Creates a request.
    public init(method: String, uri: String, authorization: String? = nil) {
        self.method = method
        self.uri = uri
        self.authorization = authorization
    }
}

/// What the admin entrypoint answers: a status, headers and a body.
public struct AdminResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var headers: [String: String]
    public var body: [UInt8]

    /// Creates a response; `headers` are added to `content-type`, `content-length` and `connection: close`.
    public init(status: Int, contentType: String = "text/plain; charset=utf-8", headers: [String: String] = [:], body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }

    /// A text response (a line, ending in a newline).
    public static func text(_ status: Int, _ text: String, headers: [String: String] = [:]) -> AdminResponse {
        AdminResponse(status: status, headers: headers, body: Array((text + "\n").utf8))
    }

    /// The body as text.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// The admin entrypoint's pages.
public enum AdminEndpoint: Sendable, Equatable {
    /// `/healthz` (and `/live`): an event loop answers.
    case health
    /// `/readyz` (and `/ready`): a first table is live and nothing is draining.
    case ready
    /// `/api/status` (and `/status`): the status document.
    case status
    /// `/api/routes`: the live table's routes.
    case routes
    /// `/metrics`: Prometheus text.
    case metrics
    /// `/dashboard`: the page (static; its data comes from `/api/status`).
    case dashboard
    /// `/api/explain?url=…`: what the live table does with this request (`pier explain --admin`).
    case explain(ExplainRequest)

    /// Whether a token, when configured, is needed. Probes stay open (a container's HEALTHCHECK has no
    /// token), and the page itself holds no data: it asks `/api/status` with the token from its URL fragment.
    var needsToken: Bool {
        switch self {
        case .health, .ready, .dashboard: false
        case .status, .routes, .metrics, .explain: true
        }
    }
}

/// Everything the data pages are made of, gathered by the server for one request.
public struct AdminFacts: Sendable {
    /// Why the process is not ready, nil when it is.
    public var notReady: String?
    /// The status document (`status`, `routes`).
    public var status: StatusDocument?
    /// The Prometheus text (`metrics`).
    public var metrics: String?
    /// The latest publication (`explain`): nil before the first table.
    public var publication: Publication?
    /// Endpoint health as the data plane sees it (`explain`), when it knows.
    public var health: [Endpoint: Bool]?
    /// The HTTPS entrypoint's bound port (`explain`: a redirect's location), nil without one.
    public var httpsPort: Int?

    /// Creates facts.
    public init(notReady: String? = nil, status: StatusDocument? = nil, metrics: String? = nil, publication: Publication? = nil,
                health: [Endpoint: Bool]? = nil, httpsPort: Int? = nil) {
        self.notReady = notReady
        self.status = status
        self.metrics = metrics
        self.publication = publication
        self.health = health
        self.httpsPort = httpsPort
    }
}

/// The admin entrypoint's routing, pure: which page a request asks for (or the refusal: 404, 405, 401,
/// redirect), then the response for that page from facts the server gathered. No IO, no clock.
public enum AdminRouter {
    /// The page `request` asks for, or the response that refuses it. `token`: the bearer token, when set.
    public static func route(_ request: AdminRequest, token: String?) -> Result<AdminEndpoint, AdminRefusal> {
        let parts = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first.map(String.init) ?? ""
        var endpoint: AdminEndpoint
        switch path {
        case "/healthz", "/live": endpoint = .health
        case "/readyz", "/ready": endpoint = .ready
        case "/api/status", "/status": endpoint = .status
        case "/api/routes": endpoint = .routes
        case "/metrics": endpoint = .metrics
        case "/dashboard", "/dashboard/": endpoint = .dashboard
        // A placeholder: the query is read only once the token is checked, so a 400 says nothing to a stranger.
        case "/api/explain": endpoint = .explain(ExplainRequest(host: ""))
        case "/":
            guard request.method == "GET" || request.method == "HEAD" else { return .failure(AdminRefusal(methodNotAllowed)) }
            return .failure(AdminRefusal(.text(302, "see /dashboard", headers: ["location": "/dashboard"])))
        default: return .failure(AdminRefusal(.text(404, "not found")))
        }
        guard request.method == "GET" || request.method == "HEAD" else { return .failure(AdminRefusal(methodNotAllowed)) }
        if let token, endpoint.needsToken, !authorized(request.authorization, token: token) {
            return .failure(AdminRefusal(.text(401, "unauthorized: send Authorization: Bearer <token>",
                                               headers: ["www-authenticate": "Bearer realm=\"pier\""])))
        }
        if case .explain = endpoint {
            switch ExplainQuery.request(parts.count > 1 ? String(parts[1]) : "") {
            case .success(let explained): endpoint = .explain(explained)
            case .failure(let problem): return .failure(AdminRefusal(.text(400, "bad request: \(problem.reason)")))
            }
        }
        return .success(endpoint)
    }

    /// The response for `endpoint`, from `facts`.
    public static func respond(_ endpoint: AdminEndpoint, facts: AdminFacts) -> AdminResponse {
        switch endpoint {
        case .health:
            return .text(200, "ok")
        case .ready:
            if let why = facts.notReady { return .text(503, "not ready: \(why)") }
            return .text(200, "ready")
        case .status:
            guard let status = facts.status else { return .text(500, "no status") }
            return json(StatusJSON.encode(status))
        case .routes:
            guard let status = facts.status else { return .text(500, "no status") }
            return json(StatusJSON.encode(RoutesDocument(generation: status.generation, routes: status.routes)))
        case .metrics:
            return AdminResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array((facts.metrics ?? "").utf8))
        case .dashboard:
            return AdminResponse(status: 200, contentType: "text/html; charset=utf-8", headers: [
                "cache-control": "no-store",
                // The page needs nothing but itself and its own origin's API.
                "content-security-policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                "x-content-type-options": "nosniff",
            ], body: Array(DashboardPage.html.utf8))
        case .explain(var request):
            // Before the first table there is nothing to explain against (an empty table would say "no route").
            guard let latest = facts.publication else { return .text(503, "not ready: no route table yet") }
            request.httpsPort = facts.httpsPort
            let explanation = Explainer.explain(request, table: latest.table, inputs: latest.inputs, statuses: latest.statuses,
                                                issues: latest.issues, health: facts.health)
            return json(ExplainQuery.json(explanation))
        }
    }

    /// Compares the bearer token in constant time (for equal lengths): timing says nothing of the prefix.
    static func authorized(_ header: String?, token: String) -> Bool {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        let given = Array(header.dropFirst(7).utf8), expected = Array(token.utf8)
        guard given.count == expected.count else { return false }
        var difference: UInt8 = 0
        for index in given.indices { difference |= given[index] ^ expected[index] }
        return difference == 0
    }

    static let methodNotAllowed = AdminResponse.text(405, "method not allowed: GET or HEAD", headers: ["allow": "GET, HEAD"])

    static func json(_ text: String) -> AdminResponse {
        AdminResponse(status: 200, contentType: "application/json", headers: ["cache-control": "no-store"], body: Array(text.utf8))
    }
}

/// A request the router answers itself (not found, wrong method, no token, the `/` redirect).
public struct AdminRefusal: Error, Sendable, Equatable {
    public var response: AdminResponse
    init(_ response: AdminResponse) { self.response = response }
}

/// The JSON of `/api/routes`.
public struct RoutesDocument: Codable, Sendable, Equatable {
    public var generation: UInt64?
    public var routes: [StatusDocument.RouteEntry]
}
