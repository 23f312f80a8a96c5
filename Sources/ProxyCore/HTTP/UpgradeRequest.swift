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
    init(_ head: RequestHead) {
        if case .parsed(let parsed) = head.storage, !parsed.connection.contains(.upgrade) {
            // The parser read the `Connection` tokens already: the common case costs nothing more.
            self = .none
            return
        }
        var connectionUpgrade = false
        var upgrade = false
        var webSocket = false
        head.forEachField { _, name, value in
            switch ForwardedHeaders.Name(bytes: name) {
            case .connection:
                value.forEachElement { connectionUpgrade = connectionUpgrade || $0.equalsLowercase("upgrade") }
            case .upgrade:
                upgrade = true
                value.forEachElement { element in
                    let text = String(decoding: element, as: UTF8.self).lowercased()
                    webSocket = webSocket || text == "websocket" || text.hasPrefix("websocket/")
                }
            default:
                break
            }
        }
        guard head.version.major == 1, upgrade, connectionUpgrade else {
            self = .none
            return
        }
        self = webSocket ? .webSocket : .declined
    }

    init(_ head: HTTPRequestHead) {
        self.init(RequestHead(head))
    }
}
