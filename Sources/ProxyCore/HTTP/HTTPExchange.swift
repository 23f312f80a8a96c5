import NIOCore
import NIOHTTP1
import RouteModel

/// One request/response exchange of a downstream connection, from its head to its last byte.
///
/// Owned by the `HTTPProxyHandler` of one connection and touched on its event loop only.
final class HTTPExchange {
    /// Where the exchange stands.
    enum Phase {
        /// Waiting for an upstream connection; request parts are buffered.
        case connecting
        /// Attached to an upstream connection; parts flow both ways.
        case forwarding
        /// Pier answered itself; the rest of the request body is read and dropped.
        case answeredLocally
    }

    let head: HTTPRequestHead
    let table: RouteTable
    let requestID: String
    let startNanos: UInt64
    var phase: Phase = .connecting
    var keepAlive: Bool
    var upstreamHead: HTTPRequestHead?
    var pool: BackendPool?
    var endpoint: Endpoint?
    var upstream: UpstreamConnection?
    var buffered: [HTTPClientRequestPart] = []
    var requestEnded = false
    var bodyBytes: Int64 = 0
    var bodyForwarded = false
    var attempts = 0
    var upstreamSentNanos: UInt64 = 0
    var lastUpstreamActivity: NIODeadline = .now()
    var readTimer: Scheduled<Void>?
    var clientBodyTimer: Scheduled<Void>?
    var lastClientActivity: NIODeadline = .now()
    var expectsContinue = false
    var responseStarted = false
    var responseEnded = false
    var upstreamKeepAlive = true
    var status: UInt = 0
    var responseBytes = 0

    init(head: HTTPRequestHead, table: RouteTable, requestID: String, keepAlive: Bool) {
        self.head = head
        self.table = table
        self.requestID = requestID
        self.keepAlive = keepAlive
        self.startNanos = NIODeadline.now().uptimeNanoseconds
    }
}
