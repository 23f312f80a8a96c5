import NIOHTTP1

/// What a request asks of the connection's protocol (RFC 9110 §7.8), as Pier handles it.
enum UpgradeRequest: Equatable {
    /// A plain request.
    case none
    /// `Upgrade: websocket` with `Connection: upgrade`: tunnelled where the route accepts it, refused elsewhere.
    case webSocket
    /// Any other upgrade (`h2c`, …): declined; the request is served as HTTP/1.1 without its `Upgrade`.
    case declined

    /// Classifies an HTTP/1 request head. It is an upgrade exactly when NIO's decoder (llhttp) sees one:
    /// an `Upgrade` header and an `upgrade` token in `Connection`. The decoder then stops parsing the
    /// connection after this request, so whatever Pier does with it, the connection cannot carry another
    /// request (callers close it unless it becomes a tunnel).
    init(_ head: HTTPRequestHead) {
        guard head.version.major == 1, head.headers.contains(name: "upgrade"),
            head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "upgrade" })
        else {
            self = .none
            return
        }
        let protocols = head.headers[canonicalForm: "upgrade"].map { $0.lowercased() }
        self = protocols.contains(where: { $0 == "websocket" || $0.hasPrefix("websocket/") }) ? .webSocket : .declined
    }
}
