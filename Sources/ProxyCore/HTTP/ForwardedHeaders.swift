import NIOCore
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
            var name = name
            self = name.withUTF8 { Name(bytes: UnsafeRawBufferPointer($0)) }
        }

        init(bytes n: UnsafeRawBufferPointer) {
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
    static func namedByConnection(_ fields: some HeadFields) -> [String] {
        var named: [String] = []
        fields.forEachField { _, name, value in
            guard name.count == 10, name.equalsLowercase("connection") else { return }
            // Most values are one of `keep-alive`, `close`, `upgrade`: recognised without splitting.
            let whole = value.trimmingSpaces()
            if whole.equalsLowercase("keep-alive") || whole.equalsLowercase("close") || whole.equalsLowercase("upgrade") { return }
            for token in String(decoding: value, as: UTF8.self).split(separator: ",") {
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
    static func isNamed(_ name: UnsafeRawBufferPointer, in named: [String]) -> Bool {
        !named.isEmpty && named.contains { token in
            token.utf8.count == name.count && zip(token.utf8, name).allSatisfy { $0 == ($1 | ($1 &- 0x41 < 26 ? 0x20 : 0)) }
        }
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

    /// A field value Pier must read or rewrite (a forwarding list, an upgrade) is not UTF-8, or a value to
    /// relay is not and the other side's head type cannot carry it: the message is refused rather than altered.
    struct Unrepresentable: Error, CustomStringConvertible {
        var field: String
        var description: String {
            "header \(field) has bytes that are not UTF-8; Pier forwards field values unchanged or not at all"
        }
    }

    /// The request fields sent upstream, written into `sink`: hop-by-hop headers removed, `Expect` answered by
    /// Pier and removed, names with `_` dropped unless `underscoresInHeaders`, forwarding headers set, framing
    /// headers restated (the upstream codec adds none of its own: this is the one place that decides them).
    /// One pass over the client's fields; a kept field is copied as it came. Returns whether the body is
    /// sent chunked.
    static func writeUpstreamFields<Fields: HeadFields, Sink: HeadSink>(
        of fields: Fields, method: HTTPMethod, authority: String?, clientIP: String?, requestID: RequestID, proto: String,
        port: Int?, http2Upstream: Bool, webSocket: Bool, underscoresInHeaders: Bool, into sink: inout Sink
    ) throws(Unrepresentable) -> Bool {
        let named = namedByConnection(fields)
        var hostField: Int?
        var previousFor: String?
        var chunked = false
        var hasLength = false
        var trailers = false
        var upgrade: [String] = []
        var problem: String?
        fields.forEachField { index, name, value in
            let kind = Name(bytes: name)
            switch kind {
            case .transferEncoding:
                // The last coding of the last header decides the framing (RFC 9112 §6.3).
                if let last = value.lastElement() { chunked = last.equalsLowercase("chunked") }
                return
            case .te:
                // `TE: trailers` is the one TE value HTTP/2 allows, and gRPC servers require it.
                if http2Upstream, value.containsElement("trailers") { trailers = true }
                return
            case .upgrade:
                // A WebSocket handshake keeps its upgrade: the one hop-by-hop request header Pier passes on.
                if webSocket {
                    guard let text = String(validating: value, as: UTF8.self) else { return problem = "upgrade" }
                    upgrade.append(contentsOf: elements(text).map(String.init))
                }
                return
            case _ where kind.isHopByHop:
                return
            case .expect, .xRealIP, .xForwardedProto, .xForwardedPort, .xForwardedHost, .xRequestID:
                return
            case .host:
                // Absolute-form target: its authority is the host (RFC 9112 §3.2.2), whatever Host said.
                if authority != nil { return }
                if hostField == nil { hostField = index }
            case .contentLength:
                hasLength = true
            case .xForwardedFor:
                if isNamed(name, in: named) { return }
                if clientIP != nil {
                    guard let text = String(validating: value, as: UTF8.self) else { return problem = "x-forwarded-for" }
                    let joined = elements(text).joined(separator: ", ")
                    if !joined.isEmpty { previousFor = previousFor.map { $0 + ", " + joined } ?? joined }
                    return
                }
            default:
                if isNamed(name, in: named) { return }
                // nginx's `underscores_in_headers off` (`ProxySettings.underscoresInHeaders`); the names
                // above have none.
                if !underscoresInHeaders, name.contains(UInt8(ascii: "_")) { return }
            }
            sink.keep(index, name, value)
        }
        if let problem { throw Unrepresentable(field: problem) }
        if let authority {
            sink.add("host", authority)
        } else if hostField == nil, !http2Upstream {
            // An HTTP/1.0 request may come without Host; the HTTP/1.1 request sent on must have one, empty when
            // there is no authority to name (RFC 9112 §3.2).
            sink.add("host", "")
        }
        if chunked {
            sink.add("transfer-encoding", "chunked")
        } else if !hasLength, method.requestUsuallyHasBody {
            sink.add("content-length", "0")
        }
        if let clientIP {
            sink.add("x-forwarded-for", previousFor.map { $0 + ", " + clientIP } ?? clientIP)
            sink.add("x-real-ip", clientIP)
        }
        sink.add("x-forwarded-proto", proto)
        if let port { sink.add("x-forwarded-port", String(port)) }
        if let authority {
            sink.add("x-forwarded-host", authority)
        } else if let hostField {
            fields.forEachField { index, _, value in if index == hostField { sink.add("x-forwarded-host", bytes: value) } }
        }
        sink.add("x-request-id", id: requestID)
        if trailers { sink.add("te", "trailers") }
        if webSocket, !upgrade.isEmpty {
            sink.add("connection", "upgrade")
            sink.add("upgrade", upgrade.joined(separator: ", "))
        }
        if let field = sink.unrepresentable { throw Unrepresentable(field: field) }
        return chunked
    }

    /// The response fields sent to the client, written into `sink`: hop-by-hop headers removed, info headers
    /// added unless hidden, `Connection: close` when the connection ends after it, and the framing restated
    /// for an HTTP/1 client (the downstream codec adds none of its own): the upstream's `Content-Length` when
    /// it gave one, else chunked for HTTP/1.1 (an HTTP/1.0 client reads to the close); none on a response
    /// that has no body by its status. One pass over the upstream's fields. Returns whether the body is
    /// sent chunked.
    static func writeDownstreamFields<Fields: HeadFields, Sink: HeadSink>(
        of fields: Fields, status: HTTPResponseStatus, clientVersion: HTTPVersion, keepAlive: Bool, info: InfoHeaders?,
        into sink: inout Sink
    ) throws(Unrepresentable) -> Bool {
        let named = namedByConnection(fields)
        let switching = status == .switchingProtocols
        let bodyAllowed = status.mayHaveResponseBody
        var hasLength = false
        var upgrade: [String] = []
        var problem: String?
        fields.forEachField { index, name, value in
            let kind = Name(bytes: name)
            switch kind {
            case .upgrade:
                // A 101 keeps the protocol it switches to; its connection then carries that protocol, not HTTP.
                if switching {
                    guard let text = String(validating: value, as: UTF8.self) else { return problem = "upgrade" }
                    upgrade.append(contentsOf: elements(text).map(String.init))
                }
                return
            case _ where kind.isHopByHop:
                return
            case .contentLength:
                guard bodyAllowed else { return }
                hasLength = true
            case .xRequestID, .xProxyID, .xServerInfo:
                if info != nil || isNamed(name, in: named) { return }
            case .xUpstreamAddr:
                if info?.upstreamAddress != nil || isNamed(name, in: named) { return }
            case .xUpstreamResponseTime:
                if info?.upstreamResponseTime != nil || isNamed(name, in: named) { return }
            default:
                if isNamed(name, in: named) { return }
            }
            sink.keep(index, name, value)
        }
        if let problem { throw Unrepresentable(field: problem) }
        if let info {
            sink.add("x-request-id", id: info.requestID)
            sink.add("x-proxy-id", info.proxyID)
            sink.add("x-server-info", info.serverInfo)
            if let upstream = info.upstreamAddress { sink.add("x-upstream-addr", upstream) }
            if let time = info.upstreamResponseTime { sink.add("x-upstream-response-time", time) }
        }
        var chunked = false
        if switching {
            sink.add("connection", "upgrade")
            sink.add("upgrade", upgrade.joined(separator: ", "))
        } else if clientVersion.major == 1 {
            // HTTP/2 has neither Connection nor Transfer-Encoding (its codec frames the body itself).
            if bodyAllowed, !hasLength, clientVersion.minor >= 1 {
                sink.add("transfer-encoding", "chunked")
                chunked = true
            }
            if !keepAlive {
                sink.add("connection", "close")
            } else if clientVersion.minor == 0 {
                sink.add("connection", "keep-alive")
            }
        }
        if let field = sink.unrepresentable { throw Unrepresentable(field: field) }
        return chunked
    }

    /// The request head sent upstream (`writeUpstreamFields`): same method, the routed target, HTTP/1.1.
    /// As bytes for Pier's HTTP/1.1 codec when `encode`, else as NIO's type.
    static func upstreamHead(
        from head: RequestHead,
        target: String,
        authority: String? = nil,
        clientIP: String?,
        requestID: RequestID,
        proto: String,
        port: Int? = nil,
        http2Upstream: Bool = false,
        webSocket: Bool = false,
        underscoresInHeaders: Bool = false,
        encode: Bool,
        recycling: consuming ByteBuffer? = nil
    ) throws(Unrepresentable) -> OutgoingRequestHead {
        if encode {
            let sourceBytes: Int
            switch head.storage {
            case .parsed(let parsed): sourceBytes = parsed.bytes.readableBytes
            case .nio(let nio): sourceBytes = HTTP1HeadWriter.size(of: nio.headers)
            }
            var sink = ByteHeadSink(capacity: sourceBytes + target.utf8.count + requestID.count + 2 * (authority?.utf8.count ?? 0) + 256,
                                    recycling: consume recycling)
            sink.buffer.writeString(head.method.rawValue)
            sink.buffer.writeInteger(UInt8(0x20))
            sink.buffer.writeString(target)
            sink.buffer.writeStaticString(" HTTP/1.1\r\n")
            let chunked = try writeUpstreamFields(
                of: head, method: head.method, authority: authority, clientIP: clientIP, requestID: requestID, proto: proto, port: port,
                http2Upstream: http2Upstream, webSocket: webSocket, underscoresInHeaders: underscoresInHeaders, into: &sink)
            sink.buffer.writeStaticString("\r\n")
            return .encoded(EncodedHead(bytes: sink.buffer, chunked: chunked, isHEAD: head.method == .HEAD))
        }
        var sink: ListHeadSink
        switch head.storage {
        case .parsed(let parsed): sink = ListHeadSink(capacity: parsed.fields.count + 9, original: nil)
        case .nio(let nio): sink = ListHeadSink(capacity: nio.headers.count + 9, original: nio.headers)
        }
        _ = try writeUpstreamFields(
            of: head, method: head.method, authority: authority, clientIP: clientIP, requestID: requestID, proto: proto, port: port,
            http2Upstream: http2Upstream, webSocket: webSocket, underscoresInHeaders: underscoresInHeaders, into: &sink)
        return .nio(HTTPRequestHead(version: .http1_1, method: head.method, uri: target, headers: HTTPHeaders(sink.list)))
    }

    /// `upstreamHead` from NIO's head type to NIO's (HTTP/2 streams to h2c, tests): never refused, every
    /// value is a String already.
    static func upstreamHead(
        from head: HTTPRequestHead, target: String, authority: String? = nil, clientIP: String?, requestID: RequestID, proto: String,
        port: Int? = nil, http2Upstream: Bool = false, webSocket: Bool = false, underscoresInHeaders: Bool = false
    ) -> HTTPRequestHead {
        let outgoing = try? upstreamHead(
            from: RequestHead(head), target: target, authority: authority, clientIP: clientIP, requestID: requestID, proto: proto,
            port: port, http2Upstream: http2Upstream, webSocket: webSocket, underscoresInHeaders: underscoresInHeaders, encode: false)
        guard case .nio(let built)? = outgoing else { preconditionFailure("a list of Strings is always representable") }
        return built
    }

    /// The response head sent to the client (`writeDownstreamFields`), in the client's HTTP/1 version. As
    /// bytes for Pier's HTTP/1.1 codec when `encode` (the reason phrase relayed as it came); to an HTTP/2
    /// client as its header block (`HPACKHeadSink`, values through `strings`) when `http2Block` (an HTTP/2
    /// stream); else as NIO's type.
    static func downstreamHead(
        from head: ResponseHead,
        clientVersion: HTTPVersion,
        keepAlive: Bool,
        info: InfoHeaders?,
        encode: Bool,
        http2Block: Bool = false,
        strings: StringInterner? = nil,
        recycling: consuming ByteBuffer? = nil
    ) throws(Unrepresentable) -> OutgoingResponseHead {
        let switching = head.status == .switchingProtocols
        let version: HTTPVersion = switching || clientVersion != .http1_0 ? .http1_1 : .http1_0
        if encode {
            var sourceBytes = 0
            switch head.storage {
            case .parsed(let parsed): sourceBytes = parsed.bytes.readableBytes
            case .nio(let nio): sourceBytes = HTTP1HeadWriter.size(of: nio)
            }
            if let info { sourceBytes += info.requestID.count + info.proxyID.utf8.count + info.serverInfo.utf8.count + (info.upstreamAddress?.utf8.count ?? 0) }
            var sink = ByteHeadSink(capacity: sourceBytes + 256, recycling: consume recycling)
            sink.buffer.writeStaticString(version == .http1_0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            let code = head.status.code
            sink.buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + code / 100 % 10))
            sink.buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + code / 10 % 10))
            sink.buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + code % 10))
            sink.buffer.writeInteger(UInt8(0x20))
            switch head.storage {
            case .parsed(let parsed): parsed.withBytes(parsed.second) { _ = sink.buffer.writeBytes($0) }
            case .nio(let nio): sink.buffer.writeString(nio.status.reasonPhrase)
            }
            sink.buffer.writeStaticString("\r\n")
            let chunked = try writeDownstreamFields(of: head, status: head.status, clientVersion: clientVersion, keepAlive: keepAlive,
                                                    info: info, into: &sink)
            sink.buffer.writeStaticString("\r\n")
            return .encoded(EncodedHead(bytes: sink.buffer, chunked: chunked, status: Int(code)))
        }
        if clientVersion.major >= 2, http2Block, !switching {
            let code = Int(head.status.code)
            var sink: HPACKHeadSink
            switch head.storage {
            case .parsed(let parsed): sink = HPACKHeadSink(capacity: parsed.fields.count + 5, status: code, strings: strings)
            case .nio(let nio): sink = HPACKHeadSink(capacity: nio.headers.count + 5, status: code, strings: strings)
            }
            _ = try writeDownstreamFields(of: head, status: head.status, clientVersion: clientVersion, keepAlive: keepAlive, info: info, into: &sink)
            return .http2(status: code, sink.block)
        }
        var sink: ListHeadSink
        var status = head.status
        switch head.storage {
        case .parsed(let parsed):
            sink = ListHeadSink(capacity: parsed.fields.count + 7, original: nil)
            // HTTP/2 has no reason phrase: only an HTTP/1 head would carry it.
            let reason = clientVersion.major >= 2 ? "" : parsed.withBytes(parsed.second) { String(validating: $0, as: UTF8.self) }
            guard let reason else { throw Unrepresentable(field: "the reason phrase") }
            status = HTTPResponseStatus(statusCode: parsed.status, reasonPhrase: reason)
        case .nio(let nio):
            sink = ListHeadSink(capacity: nio.headers.count + 7, original: nio.headers)
        }
        _ = try writeDownstreamFields(of: head, status: head.status, clientVersion: clientVersion, keepAlive: keepAlive, info: info, into: &sink)
        return .nio(HTTPResponseHead(version: version, status: status, headers: HTTPHeaders(sink.list)))
    }

    /// `downstreamHead` from NIO's head type to NIO's (h2c to HTTP/2, tests).
    static func downstreamHead(from head: HTTPResponseHead, clientVersion: HTTPVersion, keepAlive: Bool, info: InfoHeaders?) -> HTTPResponseHead {
        let outgoing = try? downstreamHead(from: ResponseHead(head), clientVersion: clientVersion, keepAlive: keepAlive, info: info,
                                           encode: false)
        guard case .nio(let built)? = outgoing else { preconditionFailure("a list of Strings is always representable") }
        return built
    }

    /// Interlock's response info headers.
    struct InfoHeaders {
        var requestID: RequestID
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
