import NIOCore
import NIOHTTP1
import RouteModel

/// What to do with a request, decided from its head and the route table alone.
enum RequestPlan {
    /// Pier answers itself; `close` ends the connection afterwards; `route`: the route that matched, if any.
    case answer(LocalResponse, close: Bool, route: Route? = nil)
    /// Proxy upstream.
    case forward(Forward)

    /// Where and how a request goes upstream.
    struct Forward {
        /// The head sent upstream.
        var upstreamHead: OutgoingRequestHead
        /// The endpoint the balancer chose.
        var endpoint: Endpoint
        /// The pool it belongs to (retries choose another of it).
        var pool: BackendPool
        /// The route that matched (for the access log).
        var route: Route
        /// The sticky cookie's value or the client address, as the pool's policy asks.
        var affinityKey: String?
        /// A WebSocket handshake: becomes a tunnel if the upstream switches protocols.
        var webSocket: Bool
    }
}

/// Turns a request head into a plan: validation, limits, routing, forwarding headers. Pure: the only input
/// besides its arguments is `chooseEndpoint`, the balancer (given the pool and the affinity key).
enum RequestPlanner {
    static func plan(
        _ head: RequestHead,
        table: RouteTable,
        requestID: RequestID,
        clientIP: String?,
        downstream: Downstream,
        upgrade: UpgradeRequest,
        matchedRoute: inout Int,
        encodeHTTP1: Bool = false,
        headBuffer: consuming ByteBuffer? = nil,
        strings: StringInterner? = nil,
        chooseEndpoint: (BackendPool, String?) -> Endpoint?
    ) -> RequestPlan {
        let settings = table.settings
        if case .nio(let nio) = head.storage, let problem = RequestValidation.problem(nio) {
            return .answer(.failure(.init(.malformedRequest), problem), close: true)
        }
        var host = head.host(interning: strings)
        var target = head.target(interning: strings)
        var authority: String?
        if !target.hasPrefix("/") {
            guard let absolute = AbsoluteForm(target) else {
                return .answer(.failure(.init(.malformedRequest), "request target must be a path or an absolute http URL"), close: true)
            }
            host = absolute.authority
            authority = absolute.authority
            target = absolute.pathAndQuery
        }
        // Normalised here once, through the loop's interner (no new String for a recurring `host:port`); the
        // checks below and the table normalise again, which costs nothing for a normal name.
        if let raw = host, let strings { host = strings.hostName(raw) }
        if let expect = head.first("expect"), expect.lowercased() != "100-continue" {
            return .answer(.failure(.init(.expectationFailed), "only Expect: 100-continue is supported"), close: true)
        }
        if let tls = downstream.tls, let host {
            // RFC 9110 §15.5.20: the connection was set up for another name, whose certificate the client
            // checked; a host served with another certificate is not this connection's business.
            let name = HostName.normalize(host)
            if name != tls.serverName, table.certificateName(forHost: name) != tls.certificateName {
                return .answer(.failure(.init(.misdirected), "this connection was set up for another host; open a new one for \(name)"), close: false)
            }
        }
        let decision = table.decide(host: host, target: target, scheme: downstream.scheme, matched: &matchedRoute)
        // 413 over the limit that applies: the pool's own, else the table's.
        var maxBody = settings.clientMaxBodySize
        if case .forward(_, let pool, _) = decision, let own = pool.limits.clientMaxBodySize { maxBody = own }
        if let length = head.contentLength, let maxBody, maxBody > 0, length > maxBody {
            return .answer(.failure(.init(.bodyTooLarge), "request body of \(length) bytes is over the \(maxBody)-byte limit"), close: true)
        }
        switch decision {
        case .noRoute:
            return .answer(.failure(.init(.noRoute), "no service is routed for this host"), close: false)
        case .notFound:
            return .answer(.failure(.init(.noContextRoot), "no context root of this host matches the path"), close: false)
        case .redirect(let location, let status):
            return .answer(.redirect(to: location, status: status), close: false)
        case .redirectToHTTPS(let name, let upstreamTarget):
            let port = settings.publishedHTTPSPort ?? downstream.httpsPort
            let authority = port == nil || port == 443 ? name : "\(name):\(port!)"
            // 301 keeps what browsers expect for pages; 308 keeps the method and body of other requests.
            let status = head.method == .GET || head.method == .HEAD ? 301 : 308
            return .answer(.redirect(to: "https://" + authority + upstreamTarget, status: status), close: false)
        case .forward(let route, let pool, let upstreamTarget):
            if upgrade == .webSocket, let refusal = webSocketRefusal(head, route: route, pool: pool, target: target) {
                return .answer(refusal, close: true, route: route)
            }
            let affinityKey: String?
            switch pool.policy {
            case .cookie(let name): affinityKey = CookieHeader.value(named: name, in: head)
            case .clientAddress: affinityKey = clientIP
            case .roundRobin, .leastConnections: affinityKey = nil
            }
            guard let endpoint = chooseEndpoint(pool, affinityKey) else {
                let services = pool.services.joined(separator: ",")
                if let max = pool.limits.maxConnections, !pool.endpoints.isEmpty {
                    return .answer(.failure(.init(.endpointsAtLimit), "every endpoint of service \(services) is at its connection limit (pier.max_conns=\(max)) or out of rotation"), close: false, route: route)
                }
                return .answer(.failure(.init(.noEndpoint), "service \(services) has no running endpoint"), close: false, route: route)
            }
            let upstreamHead: OutgoingRequestHead
            do {
                upstreamHead = try ForwardedHeaders.upstreamHead(
                    from: head, target: upstreamTarget, authority: authority, clientIP: clientIP, requestID: requestID,
                    proto: downstream.scheme.rawValue,
                    // The port the client connected to: behind a port mapping (443 → 8443) the published one.
                    port: downstream.scheme == .https ? (settings.publishedHTTPSPort ?? downstream.port) : downstream.port,
                    http2Upstream: pool.upstreamProtocol == .h2c, webSocket: upgrade == .webSocket,
                    underscoresInHeaders: settings.underscoresInHeaders,
                    encode: encodeHTTP1 && pool.upstreamProtocol == .http1,
                    recycling: consume headBuffer)
            } catch {
                return .answer(.failure(.init(.malformedRequest), "\(error)"), close: true, route: route)
            }
            return .forward(RequestPlan.Forward(upstreamHead: upstreamHead, endpoint: endpoint, pool: pool, route: route,
                                    affinityKey: affinityKey, webSocket: upgrade == .webSocket))
        }
    }

    /// Why a WebSocket handshake is not forwarded, or nil when it may be. RFC 6455 §4.2.2 suggests 403 for
    /// a handshake the server does not accept.
    private static func webSocketRefusal(_ head: RequestHead, route: Route, pool: BackendPool, target: String) -> LocalResponse? {
        let path = RequestPath.removingDotSegments(RequestPath.split(target).path)
        guard route.acceptsWebSocket(path: path) else {
            return .failure(.init(.webSocketRefused), "WebSocket upgrades are not accepted on this path")
        }
        guard head.method == .GET, !head.contains("transfer-encoding"), (head.contentLength ?? 0) == 0
        else {
            return .failure(.init(.webSocketNotGET), "a WebSocket handshake is a GET request without a body")
        }
        guard pool.upstreamProtocol == .http1 else {
            return .failure(.init(.webSocketToH2C), "WebSocket upgrades cannot be forwarded to this service's HTTP/2 (h2c) endpoints")
        }
        return nil
    }

    /// Whether the client waits for `100 Continue` before sending its body.
    static func expectsContinue(_ head: RequestHead) -> Bool {
        head.first("expect")?.lowercased() == "100-continue"
    }
}

/// An absolute-form request target (`http://host:port/path?query`), as proxies must accept.
struct AbsoluteForm {
    var authority: String
    var pathAndQuery: String

    init?(_ target: String) {
        let lower = target.prefix(8).lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") { rest = target.dropFirst(7) } else if lower.hasPrefix("https://") { rest = target.dropFirst(8) } else { return nil }
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        authority = String(rest[..<end])
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let tail = rest[end...]
        pathAndQuery = tail.hasPrefix("/") ? String(tail) : "/" + tail
    }
}
