import NIOHTTP1

/// Header rewriting between the two sides: hop-by-hop removal, forwarding headers toward the upstream and
/// info headers toward the client. Pure functions of their inputs.
enum ForwardedHeaders {
    /// The header names the builders below treat specially, recognised by length first and then by a
    /// case-insensitive byte comparison: one pass over a message's headers, no lowercased copies.
    enum Name {
        case connection, keepAlive, proxyConnection, te, trailer, transferEncoding, upgrade, http2Settings
        case host, contentLength, expect
        case xForwardedFor, xRealIP, xForwardedProto, xForwardedPort, xForwardedHost, xRequestID
        case xProxyID, xServerInfo, xUpstreamAddr, xUpstreamResponseTime
        case other

        init(_ name: String) {
            let n = name.utf8
            switch n.count {
            case 2: self = n.equalsLowercase("te") ? .te : .other
            case 4: self = n.equalsLowercase("host") ? .host : .other
            case 6: self = n.equalsLowercase("expect") ? .expect : .other
            case 7:
                if n.equalsLowercase("upgrade") { self = .upgrade } else if n.equalsLowercase("trailer") { self = .trailer } else { self = .other }
            case 9: self = n.equalsLowercase("x-real-ip") ? .xRealIP : .other
            case 10:
                if n.equalsLowercase("connection") {
                    self = .connection
                } else if n.equalsLowercase("keep-alive") {
                    self = .keepAlive
                } else if n.equalsLowercase("x-proxy-id") {
                    self = .xProxyID
                } else {
                    self = .other
                }
            case 12: self = n.equalsLowercase("x-request-id") ? .xRequestID : .other
            case 13: self = n.equalsLowercase("x-server-info") ? .xServerInfo : .other
            case 14:
                if n.equalsLowercase("content-length") { self = .contentLength } else if n.equalsLowercase("http2-settings") { self = .http2Settings } else { self = .other }
            case 15:
                if n.equalsLowercase("x-forwarded-for") { self = .xForwardedFor } else if n.equalsLowercase("x-upstream-addr") { self = .xUpstreamAddr } else { self = .other }
            case 16:
                if n.equalsLowercase("proxy-connection") {
                    self = .proxyConnection
                } else if n.equalsLowercase("x-forwarded-port") {
                    self = .xForwardedPort
                } else if n.equalsLowercase("x-forwarded-host") {
                    self = .xForwardedHost
                } else {
                    self = .other
                }
            case 17:
                if n.equalsLowercase("transfer-encoding") { self = .transferEncoding } else if n.equalsLowercase("x-forwarded-proto") { self = .xForwardedProto } else { self = .other }
            case 24: self = n.equalsLowercase("x-upstream-response-time") ? .xUpstreamResponseTime : .other
            default: self = .other
            }
        }

        /// A hop-by-hop header (RFC 9110 §7.6.1, plus the legacy ones proxies strip): never forwarded as it is.
        var isHopByHop: Bool {
            switch self {
            case .connection, .keepAlive, .proxyConnection, .te, .trailer, .transferEncoding, .upgrade, .http2Settings: return true
            default: return false
            }
        }
    }

    /// The lowercased tokens of a message's `Connection` headers that name further headers to remove (not the
    /// hop-by-hop ones, which go anyway, nor framing and `Host`). Empty, and unallocated, in the common case.
    static func namedByConnection(_ headers: HTTPHeaders) -> [String] {
        var named: [String] = []
        for (name, value) in headers where name.utf8.count == 10 && name.utf8.equalsLowercase("connection") {
            // Most values are one of `keep-alive`, `close`, `upgrade`: recognised without splitting.
            let whole = Substring(value).trimmingSpaces()
            if whole.utf8.equalsLowercase("keep-alive") || whole.utf8.equalsLowercase("close") || whole.utf8.equalsLowercase("upgrade") {
                continue
            }
            for token in value.split(separator: ",") {
                let token = token.trimmingSpaces().lowercased()
                // Hop-by-hop ones go anyway (and `close` names no header); framing and target can never be
                // removed this way (a request smuggling vector), only a hop's options.
                let kind = Name(token)
                if token.isEmpty || token == "close" || kind.isHopByHop || kind == .contentLength || kind == .host { continue }
                named.append(token)
            }
        }
        return named
    }

    /// Whether a header of this name goes, because a `Connection` header named it.
    @inline(__always)
    static func isNamed(_ name: String, in named: [String]) -> Bool {
        !named.isEmpty && named.contains { $0.utf8.count == name.utf8.count && name.lowercased() == $0 }
    }

    /// The comma-separated elements of a header value, trimmed, empty ones left out.
    static func elements(_ value: String) -> [Substring] {
        value.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
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
    /// `Expect` answered by Pier and removed, names with `_` dropped unless `underscoresInHeaders`, forwarding headers set, framing headers restated (the upstream
    /// encoder is told not to add its own: this is the one place that decides them).
    ///
    /// Built in one pass over the client's headers into a list sized once; nothing is searched twice.
    static func upstreamHead(
        from head: HTTPRequestHead,
        target: String,
        authority: String? = nil,
        clientIP: String?,
        requestID: String,
        proto: String,
        port: Int? = nil,
        http2Upstream: Bool = false,
        webSocket: Bool = false,
        underscoresInHeaders: Bool = false
    ) -> HTTPRequestHead {
        let named = namedByConnection(head.headers)
        var out: [(String, String)] = []
        out.reserveCapacity(head.headers.count + 9)
        var host = authority
        var previousFor: String?
        var chunked = false
        var hasLength = false
        var trailers = false
        var upgrade: [Substring] = []
        for (name, value) in head.headers {
            let kind = Name(name)
            switch kind {
            case .transferEncoding:
                // The last coding of the last header decides the framing (RFC 9112 §6.3).
                chunked = elements(value).last.map { $0.utf8.equalsLowercase("chunked") } ?? chunked
                continue
            case .te:
                // `TE: trailers` is the one TE value HTTP/2 allows, and gRPC servers require it.
                if http2Upstream, elements(value).contains(where: { $0.utf8.equalsLowercase("trailers") }) { trailers = true }
                continue
            case .upgrade:
                // A WebSocket handshake keeps its upgrade: the one hop-by-hop request header Pier passes on.
                if webSocket { upgrade.append(contentsOf: elements(value)) }
                continue
            case _ where kind.isHopByHop:
                continue
            case .expect, .xRealIP, .xForwardedProto, .xForwardedPort, .xForwardedHost, .xRequestID:
                continue
            case .host:
                // Absolute-form target: its authority is the host (RFC 9112 §3.2.2), whatever Host said.
                if authority != nil { continue }
                if host == nil { host = value }
            case .contentLength:
                hasLength = true
            case .xForwardedFor:
                if isNamed(name, in: named) { continue }
                if clientIP != nil {
                    let joined = elements(value).joined(separator: ", ")
                    if !joined.isEmpty { previousFor = previousFor.map { $0 + ", " + joined } ?? joined }
                    continue
                }
            default:
                if isNamed(name, in: named) { continue }
                // nginx's `underscores_in_headers off` (`ProxySettings.underscoresInHeaders`); the names
                // above have none.
                if !underscoresInHeaders, name.utf8.contains(UInt8(ascii: "_")) { continue }
            }
            out.append((name, value))
        }
        if let authority { out.append(("host", authority)) }
        if chunked {
            out.append(("transfer-encoding", "chunked"))
        } else if !hasLength, head.method.requestUsuallyHasBody {
            out.append(("content-length", "0"))
        }
        if let clientIP {
            out.append(("x-forwarded-for", previousFor.map { $0 + ", " + clientIP } ?? clientIP))
            out.append(("x-real-ip", clientIP))
        }
        out.append(("x-forwarded-proto", proto))
        if let port { out.append(("x-forwarded-port", String(port))) }
        if let host { out.append(("x-forwarded-host", host)) }
        out.append(("x-request-id", requestID))
        if trailers { out.append(("te", "trailers")) }
        if webSocket, !upgrade.isEmpty {
            out.append(("connection", "upgrade"))
            out.append(("upgrade", upgrade.joined(separator: ", ")))
        }
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: target, headers: HTTPHeaders(out))
    }

    /// The response head sent to the client: hop-by-hop headers removed, info headers added unless hidden,
    /// `Connection: close` when the connection ends after it, and the framing restated for an HTTP/1 client
    /// (the downstream encoder is told not to add its own): the upstream's `Content-Length` when it gave
    /// one, else chunked for HTTP/1.1 (an HTTP/1.0 client reads to the close); none on a response that has
    /// no body by its status.
    ///
    /// Built in one pass over the upstream's headers into a list sized once.
    static func downstreamHead(
        from head: HTTPResponseHead,
        clientVersion: HTTPVersion,
        keepAlive: Bool,
        info: InfoHeaders?
    ) -> HTTPResponseHead {
        let named = namedByConnection(head.headers)
        let switching = head.status == .switchingProtocols
        let bodyAllowed = head.status.mayHaveResponseBody
        var out: [(String, String)] = []
        out.reserveCapacity(head.headers.count + 7)
        var hasLength = false
        var upgrade: [Substring] = []
        for (name, value) in head.headers {
            let kind = Name(name)
            switch kind {
            case .upgrade:
                // A 101 keeps the protocol it switches to; its connection then carries that protocol, not HTTP.
                if switching { upgrade.append(contentsOf: elements(value)) }
                continue
            case _ where kind.isHopByHop:
                continue
            case .contentLength:
                guard bodyAllowed else { continue }
                hasLength = true
            case .xRequestID, .xProxyID, .xServerInfo:
                if info != nil || isNamed(name, in: named) { continue }
            case .xUpstreamAddr:
                if info?.upstreamAddress != nil || isNamed(name, in: named) { continue }
            case .xUpstreamResponseTime:
                if info?.upstreamResponseTime != nil || isNamed(name, in: named) { continue }
            default:
                if isNamed(name, in: named) { continue }
            }
            out.append((name, value))
        }
        if let info {
            out.append(("x-request-id", info.requestID))
            out.append(("x-proxy-id", info.proxyID))
            out.append(("x-server-info", info.serverInfo))
            if let upstream = info.upstreamAddress { out.append(("x-upstream-addr", upstream)) }
            if let time = info.upstreamResponseTime { out.append(("x-upstream-response-time", time)) }
        }
        if switching {
            out.append(("connection", "upgrade"))
            out.append(("upgrade", upgrade.joined(separator: ", ")))
            return HTTPResponseHead(version: .http1_1, status: head.status, headers: HTTPHeaders(out))
        }
        // HTTP/2 has neither Connection nor Transfer-Encoding (its codec frames the body itself).
        if clientVersion.major == 1 {
            if bodyAllowed, !hasLength, clientVersion.minor >= 1 { out.append(("transfer-encoding", "chunked")) }
            if !keepAlive {
                out.append(("connection", "close"))
            } else if clientVersion.minor == 0 {
                out.append(("connection", "keep-alive"))
            }
        }
        let version: HTTPVersion = clientVersion == .http1_0 ? .http1_0 : .http1_1
        return HTTPResponseHead(version: version, status: head.status, headers: HTTPHeaders(out))
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

extension String.UTF8View {
    /// Whether these bytes equal `lowercase` (given in lowercase ASCII) ignoring ASCII case.
    @inline(__always)
    func equalsLowercase(_ lowercase: StaticString) -> Bool {
        guard count == lowercase.utf8CodeUnitCount else { return false }
        return withContiguousStorageIfAvailable { $0.equalsLowercase(lowercase) } ?? Array(self).equalsLowercase(lowercase)
    }
}

extension Substring.UTF8View {
    /// Whether these bytes equal `lowercase` (given in lowercase ASCII) ignoring ASCII case.
    @inline(__always)
    func equalsLowercase(_ lowercase: StaticString) -> Bool {
        guard count == lowercase.utf8CodeUnitCount else { return false }
        return withContiguousStorageIfAvailable { $0.equalsLowercase(lowercase) } ?? Array(self).equalsLowercase(lowercase)
    }
}

extension Collection where Element == UInt8 {
    /// Byte by byte against a static lowercase ASCII string, folding A–Z to a–z.
    @inline(__always)
    func equalsLowercase(_ lowercase: StaticString) -> Bool {
        guard count == lowercase.utf8CodeUnitCount else { return false }
        var expected = lowercase.utf8Start
        for byte in self {
            if byte | (byte &- 0x41 < 26 ? 0x20 : 0) != expected.pointee { return false }
            expected += 1
        }
        return true
    }
}
