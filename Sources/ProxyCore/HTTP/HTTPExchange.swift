import NIOCore
import NIOHTTP1
import RouteModel

/// One request/response exchange of a downstream connection, from its head to its last byte.
///
/// Owned by the `HTTPProxyStateMachine` of one connection, touched on that connection's event loop only.
/// Its fields are one value (`State`, read and written through `exchange.field`): an object that has served
/// an exchange is made new for the next one by assigning a whole new `State`, so that nothing of the previous
/// request can remain (`ExchangePool` recycles them per event loop: no allocation per request).
@dynamicMemberLookup
final class HTTPExchange {
    /// Where the exchange stands.
    enum Phase: Equatable {
        /// Waiting for an upstream connection; request parts are buffered.
        case connecting
        /// Attached to an upstream connection; parts flow both ways.
        case forwarding
        /// Pier answered itself; the rest of the request body is read and dropped.
        case answeredLocally
    }

    var state: State

    init(_ state: State) {
        self.state = state
    }

    convenience init(head: RequestHead, upgrade: UpgradeRequest, table: RouteTable, requestID: RequestID, now: NIODeadline,
                     strings: StringInterner? = nil) {
        self.init(State(head: head, upgrade: upgrade, table: table, requestID: requestID, now: now, strings: strings))
    }

    subscript<T>(dynamicMember field: KeyPath<State, T>) -> T { state[keyPath: field] }

    subscript<T>(dynamicMember field: WritableKeyPath<State, T>) -> T {
        get { state[keyPath: field] }
        // In place: `exchange.buffered.append(part)` must not copy the list (a get and a set would).
        _modify { yield &state[keyPath: field] }
    }

    /// The exchange is over and its object goes back to the pool: everything it holds that is not its own is
    /// let go now — buffers, and the route table, pool and route (a waiting object must not keep an old table
    /// alive after reloads) — the rest is replaced when the object serves again. Read after `ended()`:
    /// `settings`, `requestEnded` (kept); nothing reads the others once the exchange ended.
    func retire() {
        state.table = retiredTable
        state.pool = nil
        state.route = nil
        state.endpoint = nil
        state.countedOn = nil
        state.affinityKey = nil
        state.failed = []
        state.target = nil
        state.host = nil
        state.upstreamHead = nil
        state.replayBody = nil
        state.buffered = []
        state.trailers = nil
        state.switchingHead = nil
    }
}

/// What a retired exchange holds in place of its table: empty, shared, never routed with.
private let retiredTable = RouteTable.empty()

extension HTTPExchange {
    struct State {
        /// The request's method and version (its head's bytes are not kept).
        let method: HTTPMethod
        let version: HTTPVersion
        /// The request target and `Host` header, kept for the access log only.
        var target: String?
        var host: String?
        /// The table the exchange was routed with (its metrics are counted under it).
        var table: RouteTable
        /// The settings the exchange runs under: the table's, then its pool's own limits once routed.
        var settings: ProxySettings
        let requestID: RequestID
        let startNanos: UInt64
        let expectsContinue: Bool
        var phase: Phase = .connecting
        var keepAlive: Bool
        var upstreamHead: OutgoingRequestHead?
        var endpoint: Endpoint?
        /// The pool the endpoint came from, for retries and health reports.
        var pool: BackendPool?
        /// The route that matched, when one did (for the access log).
        var route: Route?
        var affinityKey: String?
        /// Endpoints tried before the current one (empty, and unallocated, until a retry).
        var failed: [Endpoint] = []
        /// The endpoint a least-connections pool counts this exchange on.
        var countedOn: Endpoint?
        /// A copy of a small request body sent whole, so that a retry can send it again.
        var replayBody: [UpstreamRequestPart]?
        /// The protocol toward the exchange's pool.
        var upstreamProtocol: UpstreamProtocol { pool?.upstreamProtocol ?? .http1 }
        /// A WebSocket handshake forwarded upstream: a 101 turns the exchange into a tunnel.
        var webSocket = false
        /// The 101 to send the client once the upstream's response head has ended.
        var switchingHead: OutgoingResponseHead?
        var reusedUpstream = false
        var buffered: [UpstreamRequestPart] = []
        var requestEnded = false
        /// The request's trailers, kept for a retry.
        var trailers: HTTPHeaders?
        var bodyBytes: Int64 = 0
        var bodyForwarded = false
        var attempts = 0
        /// A stale pooled connection was replaced by a fresh one (allowed once, outside `attempts`).
        var staleRetried = false
        var upstreamSentNanos: UInt64 = 0
        /// When the upstream's response head arrived (0: not yet): `upstream_ms` in the access log.
        var upstreamHeadNanos: UInt64 = 0
        var lastUpstreamActivity: NIODeadline
        var lastClientActivity: NIODeadline
        var responseStarted = false
        var responseEnded = false
        var upstreamKeepAlive = true
        var status: UInt = 0
        var responseBytes = 0
        /// Why the exchange failed (Pier answered an error, or it was cut short); nil when it did not.
        var cause: FailureCause?

        /// The request parts to send again on a retry, or nil when what was sent cannot be sent again (a body
        /// streamed upstream and not kept).
        var replayParts: [UpstreamRequestPart]? {
            if !bodyForwarded { return requestEnded ? [.end(trailers)] : [] }
            return replayBody
        }

        init(head: RequestHead, upgrade: UpgradeRequest, table: RouteTable, requestID: RequestID, now: NIODeadline,
             strings: StringInterner?) {
            self.method = head.method
            self.version = head.version
            self.target = table.settings.accessLog ? head.target(interning: strings) : nil
            self.host = table.settings.accessLog ? head.host(interning: strings) : nil
            self.table = table
            self.settings = table.settings
            self.requestID = requestID
            // An HTTP/2 stream ends with its exchange; "keep-alive" there means the connection stays, which is
            // the HTTP/2 connection's business.
            // After an upgrade request the codec (Pier's or NIO's) reads no further request on the connection
            // until the answer is known (see `UpgradeRequest`): unless it becomes a tunnel, it closes after the
            // response.
            self.keepAlive = head.version.major >= 2 || (head.keepsAlive && upgrade == .none)
            self.expectsContinue = RequestPlanner.expectsContinue(head)
            self.startNanos = now.uptimeNanoseconds
            self.lastUpstreamActivity = now
            self.lastClientActivity = now
        }
    }
}
