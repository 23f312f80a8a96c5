import NIOHTTP1

/// Header rewriting between the two sides: hop-by-hop removal, forwarding headers toward the upstream and
/// info headers toward the client. Pure functions of their inputs.
enum ForwardedHeaders {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy ones proxies strip.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "http2-settings",
    ]

    /// Headers a `Connection` token may never remove: dropping them would change the message's framing or
    /// target (a request smuggling vector), not just a hop's options.
    static let protectedFromConnection: Set<String> = ["content-length", "host"]

    /// Removes hop-by-hop headers and every header named in `Connection` (except framing and `Host`).
    static func stripHopByHop(_ headers: inout HTTPHeaders) {
        // Fast path: one pass to see whether there is anything to remove at all (most messages carry at
        // most `Connection`); the removals below each scan the whole header list.
        var found = false
        for (name, _) in headers where mayBeHopByHop(name) {
            found = true
            break
        }
        guard found else { return }
        var named: [String] = []
        for value in headers[canonicalForm: "connection"] {
            let token = value.lowercased()
            if !hopByHop.contains(token), !protectedFromConnection.contains(token) { named.append(token) }
        }
        for name in hopByHop { headers.remove(name: name) }
        for name in named { headers.remove(name: name) }
    }

    /// Whether `name` has the length of a hop-by-hop header and then matches one (case-insensitively).
    @inline(__always)
    static func mayBeHopByHop(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2, 7, 9, 10, 14, 16, 17: return hopByHop.contains(name.lowercased())
        default: return false
        }
    }

    /// Whether `value` is an acceptable client-supplied request id (kept as it is).
    static func isValidRequestID(_ value: String) -> Bool {
        let count = value.utf8.count
        return count >= 1 && count <= 128
            && value.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
            }
    }

    /// The request head sent upstream: same method, the routed target, HTTP/1.1, hop-by-hop headers removed,
    /// `Expect` answered by Pier and removed, forwarding headers set, framing headers restated.
    static func upstreamHead(
        from head: HTTPRequestHead,
        target: String,
        authority: String? = nil,
        clientIP: String?,
        requestID: String,
        proto: String,
        port: Int? = nil,
        http2Upstream: Bool = false,
        webSocket: Bool = false
    ) -> HTTPRequestHead {
        var headers = head.headers
        // A WebSocket handshake keeps its upgrade: the one hop-by-hop request Pier passes on, restated.
        let upgrade = webSocket ? headers[canonicalForm: "upgrade"].joined(separator: ", ") : nil
        // `TE: trailers` is the one TE value HTTP/2 allows, and gRPC servers require it.
        let trailers = http2Upstream && headers[canonicalForm: "te"].contains { $0.lowercased() == "trailers" }
        if let authority {
            // Absolute-form target: its authority is the host (RFC 9112 §3.2.2), whatever Host said.
            headers.replaceOrAdd(name: "host", value: authority)
        }
        let chunked = headers[canonicalForm: "transfer-encoding"].last?.lowercased() == "chunked"
        stripHopByHop(&headers)
        headers.remove(name: "expect")
        if chunked {
            headers.add(name: "transfer-encoding", value: "chunked")
        } else if !headers.contains(name: "content-length"), head.method.requestUsuallyHasBody {
            headers.add(name: "content-length", value: "0")
        }
        if let clientIP {
            let previous = headers[canonicalForm: "x-forwarded-for"].joined(separator: ", ")
            headers.replaceOrAdd(name: "x-forwarded-for", value: previous.isEmpty ? clientIP : previous + ", " + clientIP)
            headers.replaceOrAdd(name: "x-real-ip", value: clientIP)
        }
        headers.replaceOrAdd(name: "x-forwarded-proto", value: proto)
        if let port {
            headers.replaceOrAdd(name: "x-forwarded-port", value: String(port))
        } else {
            headers.remove(name: "x-forwarded-port")
        }
        if let host = headers.first(name: "host") {
            headers.replaceOrAdd(name: "x-forwarded-host", value: host)
        } else {
            headers.remove(name: "x-forwarded-host")
        }
        headers.replaceOrAdd(name: "x-request-id", value: requestID)
        if trailers { headers.add(name: "te", value: "trailers") }
        if let upgrade {
            headers.add(name: "connection", value: "upgrade")
            headers.add(name: "upgrade", value: upgrade)
        }
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: target, headers: headers)
    }

    /// The response head sent to the client: hop-by-hop headers removed (the encoder restates framing),
    /// info headers added unless hidden, `Connection: close` when the connection ends after it.
    static func downstreamHead(
        from head: HTTPResponseHead,
        clientVersion: HTTPVersion,
        keepAlive: Bool,
        info: InfoHeaders?
    ) -> HTTPResponseHead {
        var headers = head.headers
        // A 101 keeps the protocol it switches to; its connection then carries that protocol, not HTTP.
        let upgrade = head.status == .switchingProtocols ? headers[canonicalForm: "upgrade"].joined(separator: ", ") : nil
        stripHopByHop(&headers)
        if let info {
            headers.replaceOrAdd(name: "x-request-id", value: info.requestID)
            headers.replaceOrAdd(name: "x-proxy-id", value: info.proxyID)
            headers.replaceOrAdd(name: "x-server-info", value: info.serverInfo)
            if let upstream = info.upstreamAddress {
                headers.replaceOrAdd(name: "x-upstream-addr", value: upstream)
            }
            if let time = info.upstreamResponseTime {
                headers.replaceOrAdd(name: "x-upstream-response-time", value: time)
            }
        }
        if let upgrade {
            headers.add(name: "connection", value: "upgrade")
            headers.add(name: "upgrade", value: upgrade)
            return HTTPResponseHead(version: .http1_1, status: head.status, headers: headers)
        }
        // HTTP/2 has no Connection header (its codec would drop it anyway).
        if clientVersion.major == 1 {
            if !keepAlive {
                headers.add(name: "connection", value: "close")
            } else if clientVersion.minor == 0 {
                headers.add(name: "connection", value: "keep-alive")
            }
        }
        let version: HTTPVersion = clientVersion == .http1_0 ? .http1_0 : .http1_1
        return HTTPResponseHead(version: version, status: head.status, headers: headers)
    }

    /// Interlock's response info headers.
    struct InfoHeaders {
        var requestID: String
        var proxyID: String
        var serverInfo: String
        var upstreamAddress: String?
        var upstreamResponseTime: String?
    }
}

extension HTTPMethod {
    /// RFC 9110 §9.2.2: safe to send twice.
    var isIdempotent: Bool {
        switch self {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: return true
        default: return false
        }
    }

    var requestUsuallyHasBody: Bool {
        switch self {
        case .POST, .PUT, .PATCH: return true
        default: return false
        }
    }
}
