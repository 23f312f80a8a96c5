import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// One HTTP/2 stream's edge, the only handler between the stream channel and its `HTTPProxyHandler`: the
/// request's frames in, Pier's request parts out (handed to the proxy straight, not boxed by the pipeline);
/// the proxy's response parts in, frames out. In place of NIO's HTTP/2 → HTTP/1 codec, a part adapter and a
/// response writer: one handler and one context per stream instead of three.
///
/// The request: the first HEADERS block is the head, a later one the trailers. NIO's handler has already held
/// the block to RFC 9113 §8.2–8.3 (pseudo-headers present, once, before the others, none unknown; names in
/// lower case; no connection-specific fields; no CR, LF or NUL) and reset the stream otherwise, so the checks
/// here that repeat those only guard against a configuration without NIO's validation. The head becomes an
/// HTTP/1.1-shaped `RequestHead`:
/// - `:authority` becomes `Host` (first); a `Host` field of its own that names another authority (compared
///   after scheme-based normalisation: case, default port) makes the request malformed (§8.3.1), as does a
///   request with neither; CONNECT's target is its `:authority`, as in HTTP/1.1;
/// - `Cookie` crumbs (§8.2.3 lets a client split the field) are joined with "; " into one field, as an
///   HTTP/1.1 upstream must get them;
/// - a method that may carry a body, sent without `content-length`, gets `content-length: 0` when the
///   HEADERS frame ends the stream and `transfer-encoding: chunked` otherwise, so that the request is
///   framed for an HTTP/1.1 upstream.
/// A malformed head is an error of this stream (RST_STREAM PROTOCOL_ERROR); the connection goes on.
///
/// The response, beyond a plain conversion:
/// - the last frame carries END_STREAM: a response that ends in the same turn as its last body part is a
///   HEADERS and a DATA frame, not HEADERS, DATA and an empty DATA (a bodiless one is one HEADERS frame);
/// - HPACK indexing per header: values that change with every response (`date`, `x-request-id`,
///   `x-upstream-response-time`) stay out of the connection's dynamic table — they would only evict useful
///   entries and make every lookup scan a table of dead ones (2–3 µs per response in a profile) — and
///   `set-cookie` is never indexed (RFC 7541 §7.1.3: secrets must not be guessable through compression);
/// - names lowercased (RFC 9113 §8.2.1) and connection-specific headers dropped (§8.2.2) in the same pass.
///
/// A response part is held until the next one or a flush, so that the end can ride on it; a flush writes
/// what is held. (So the stream channel's writability, which `HTTPProxyHandler` checks after each body
/// part, counts the part before the last: backpressure acts one upstream read later, which stays bounded.)
final class HTTP2StreamHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = DownstreamRequestPart
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    /// The handler right above (`HTTPProxyHandler`), taking request parts straight from here. Cleared when
    /// this handler leaves (the two hold each other).
    var receiver: DownstreamPartReceiver?
    /// Whether the request head has come: a later HEADERS block is the trailers.
    private var headReceived = false
    /// Whether the request head was malformed: the stream is being reset, nothing more is delivered.
    private var malformed = false
    /// Called once when the request head is malformed: the connection charges its client for the stream
    /// (`HTTP2Downstream`), as NIO counts the stream errors it finds itself.
    var onMalformed: (() -> Void)?

    // MARK: - The request

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if malformed { return }
        switch unwrapInboundIn(data) {
        case .headers(let block):
            if headReceived {
                // Trailers: NIO's handler has checked that they end the stream.
                deliver(.end(Self.regularFields(block.headers)), context)
                return
            }
            headReceived = true
            let head: HTTPRequestHead
            do {
                head = try Self.requestHead(block.headers, endStream: block.endStream)
            } catch {
                // A stream error (RFC 9113 §8.1.1): RST_STREAM PROTOCOL_ERROR, nothing forwarded. Sent on the
                // next turn: a stream closed within the read that opened it is reported closed to NIO's
                // stream delegates before it is reported open (NIO's connection manager asserts on that).
                // Until then, whatever else the client sends on it is dropped.
                malformed = true
                onMalformed?()
                context.eventLoop.assumeIsolated().execute { [self] in
                    context.writeAndFlush(wrapOutboundOut(.rstStream(.protocolError)), promise: nil)
                }
                return
            }
            deliver(.head(RequestHead(head)), context)
            if block.endStream { deliver(.end(nil), context) }
        case .data(let frame):
            guard case .byteBuffer(let bytes) = frame.data else { return }
            if bytes.readableBytes > 0 || !frame.endStream { deliver(.body(bytes), context) }
            if frame.endStream { deliver(.end(nil), context) }
        default:
            // Window updates, priority, resets: NIO's handler and the stream channel act on them.
            break
        }
    }

    @inline(__always)
    private func deliver(_ part: DownstreamRequestPart, _ context: ChannelHandlerContext) {
        if let receiver { receiver.received(part) } else { context.fireChannelRead(wrapInboundOut(part)) }
    }

    /// A request header block as an HTTP/1.1 request head (see the type's notes).
    static func requestHead(_ block: HPACKHeaders, endStream: Bool) throws -> HTTPRequestHead {
        var method: String?
        var path: String?
        var scheme: String?
        var authority: String?
        var host: String?
        var hasContentLength = false
        var cookies = 0
        var fields: [(String, String)] = []
        // Host, and possibly a framing field, besides the regular ones.
        fields.reserveCapacity(block.count)
        for (name, value, _) in block {
            if name.utf8.first == UInt8(ascii: ":") {
                switch name {
                case ":method": method = try once(method, value, name)
                case ":path": path = try once(path, value, name)
                case ":scheme": scheme = try once(scheme, value, name)
                case ":authority": authority = try once(authority, value, name)
                default: throw HTTP2RequestHeadError("unknown pseudo-header \(name)")
                }
                continue
            }
            switch name.utf8.count {
            case 4 where name == "host":
                // Kept once, first: below.
                if host != nil { throw HTTP2RequestHeadError("more than one host field") }
                host = value
                continue
            case 6 where name == "cookie": cookies += 1
            case 14 where name == "content-length": hasContentLength = true
            default: break
            }
            fields.append((name, value))
        }
        guard let method else { throw HTTP2RequestHeadError("no :method") }
        let httpMethod = HTTPMethod(rawValue: method)
        // CONNECT names only an authority (§8.5): its target is that authority, as in HTTP/1.1, and the
        // proxy answers it as it answers an HTTP/1.1 CONNECT.
        guard let path = path ?? (httpMethod == .CONNECT ? authority : nil) else { throw HTTP2RequestHeadError("no :path") }
        guard scheme != nil || httpMethod == .CONNECT else { throw HTTP2RequestHeadError("no :scheme") }
        if let authority, let host, !sameAuthority(authority, host, scheme: scheme) {
            throw HTTP2RequestHeadError("host field \(host) differs from :authority \(authority)")
        }
        guard let name = authority ?? host else { throw HTTP2RequestHeadError("neither :authority nor host") }
        fields.insert(("host", name), at: 0)
        switch httpMethod {
        case .GET, .HEAD, .DELETE, .CONNECT, .TRACE:
            // Methods whose requests have no body by their semantics: nothing added.
            break
        default:
            if !hasContentLength { fields.append(endStream ? ("content-length", "0") : ("transfer-encoding", "chunked")) }
        }
        if cookies > 1 { joinCookies(&fields) }
        return HTTPRequestHead(version: .http2, method: httpMethod, uri: path, headers: HTTPHeaders(fields))
    }

    /// Whether a `Host` field and `:authority` name the same authority after RFC 3986 §6.2.3's scheme-based
    /// normalisation (RFC 9113 §8.3.1): case aside, and with the scheme's default port or an empty one the
    /// same as none (`Example.org:443` is `example.org` on https).
    static func sameAuthority(_ a: String, _ b: String, scheme: String?) -> Bool {
        // Bytes, not String ==: canonically equivalent text is not the same authority.
        if a.utf8.elementsEqual(b.utf8) { return true }
        let scheme = scheme?.lowercased()
        let defaultPort = scheme == "http" ? ":80" : scheme == "https" ? ":443" : nil
        func normal(_ value: String) -> Substring {
            var value = Substring(value)
            if let port = defaultPort, value.hasSuffix(port) { value = value.dropLast(port.utf8.count) }
            if value.hasSuffix(":") { value = value.dropLast() }
            return value
        }
        let x = normal(a).utf8, y = normal(b).utf8
        return x.count == y.count && zip(x, y).allSatisfy { $0 | ($0 &- 0x41 < 26 ? 0x20 : 0) == $1 | ($1 &- 0x41 < 26 ? 0x20 : 0) }
    }

    private static func once(_ seen: String?, _ value: String, _ name: String) throws -> String {
        if seen != nil { throw HTTP2RequestHeadError("more than one \(name)") }
        return value
    }

    /// The `cookie` fields as one, in their order, where the first was.
    static func joinCookies(_ fields: inout [(String, String)]) {
        guard let first = fields.firstIndex(where: { $0.0 == "cookie" }) else { return }
        var joined = fields[first].1
        for field in fields[(first + 1)...] where field.0 == "cookie" { joined += "; " + field.1 }
        var kept: [(String, String)] = []
        kept.reserveCapacity(fields.count)
        for (index, field) in fields.enumerated() {
            if field.0 != "cookie" { kept.append(field) } else if index == first { kept.append((field.0, joined)) }
        }
        fields = kept
    }

    /// A trailer block's fields (no pseudo-headers are allowed there; any would be dropped).
    static func regularFields(_ block: HPACKHeaders) -> HTTPHeaders {
        var fields: [(String, String)] = []
        fields.reserveCapacity(block.count)
        for (name, value, _) in block where name.utf8.first != UInt8(ascii: ":") { fields.append((name, value)) }
        return HTTPHeaders(fields)
    }

    // MARK: - The response

    private var context: ChannelHandlerContext?
    private var held: (payload: HTTP2Frame.FramePayload, promise: EventLoopPromise<Void>?)?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        receiver = nil
        held?.promise?.fail(ChannelError.ioOnClosedChannel)
        held = nil
    }

    /// A frame from above (none today): after what is held, to keep the order.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        writeHeld(context)
        context.write(data, promise: promise)
    }

    /// Writes `part` of the response as the proxy hands it over: a relayed head as its header block already
    /// (`HPACKHeadSink`), one of Pier's own (errors, redirects, 100 Continue) as NIO's head.
    func write(_ part: DownstreamResponsePart, promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch part {
        case .head(let head):
            let status: Int
            let headers: HPACKHeaders
            switch head {
            case .http2(let code, let block): (status, headers) = (code, block)
            case .nio(let nio): (status, headers) = (Int(nio.status.code), Self.headers(nio.headers, status: nio.status.code))
            case .encoded:
                promise?.fail(EncodedHeadError())
                return
            }
            if status < 200 {
                // An interim response (100 Continue): a HEADERS frame of its own, not the stream's end.
                writeHeld(context)
                context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: promise)
            } else {
                hold(context, .headers(.init(headers: headers)), promise)
            }
        case .body(let body):
            hold(context, .data(.init(data: body)), promise)
        case .end(let trailers):
            if let trailers, !trailers.isEmpty {
                writeHeld(context)
                context.write(wrapOutboundOut(.headers(.init(headers: Self.headers(trailers, status: nil), endStream: true))), promise: promise)
                return
            }
            // END_STREAM rides on the held frame (HEADERS of a bodiless response, or the last DATA).
            switch held {
            case (.headers(var headers), let heldPromise)?:
                headers.endStream = true
                held = (.headers(headers), heldPromise)
            case (.data(var data), let heldPromise)?:
                data.endStream = true
                held = (.data(data), heldPromise)
            default:
                writeHeld(context)
                held = (.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)), nil)
            }
            if let promise {
                if let heldPromise = held?.promise { heldPromise.futureResult.cascade(to: promise) } else { held?.promise = promise }
            }
            writeHeld(context)
        }
    }

    func flush(context: ChannelHandlerContext) {
        writeHeld(context)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        writeHeld(context)
        context.close(mode: mode, promise: promise)
    }

    private func hold(_ context: ChannelHandlerContext, _ payload: HTTP2Frame.FramePayload, _ promise: EventLoopPromise<Void>?) {
        writeHeld(context)
        held = (payload, promise)
    }

    private func writeHeld(_ context: ChannelHandlerContext) {
        guard let (payload, promise) = held else { return }
        held = nil
        context.write(wrapOutboundOut(payload), promise: promise)
    }

    /// `headers` as an HTTP/2 header block: `:status` first when given, names in lower case, connection-specific
    /// headers left out, each with its indexing.
    static func headers(_ headers: HTTPHeaders, status: UInt?) -> HPACKHeaders {
        var out = HPACKHeaders()
        out.reserveCapacity(headers.count + 1)
        if let status { out.add(name: ":status", value: String(status)) }
        for (name, value) in headers {
            let kind = ForwardedHeaders.Name(name)
            if kind.isHopByHop { continue }
            let lower = lowercased(name)
            out.add(name: lower, value: value, indexing: indexing(lower))
        }
        return out
    }

    /// The indexing for a lowercase header `name`. By length first: most names are compared with nothing.
    @inline(__always)
    static func indexing(_ name: String) -> HPACKIndexing {
        switch name.utf8.count {
        case 4: return name == "date" ? .nonIndexable : .indexable
        case 10: return name == "set-cookie" ? .neverIndexed : .indexable
        case 12: return name == "x-request-id" ? .nonIndexable : .indexable
        case 24: return name == "x-upstream-response-time" ? .nonIndexable : .indexable
        default: return .indexable
        }
    }

    /// `name` in lower case: the same string when it already is (the names Pier adds), a literal for the names
    /// upstreams send most in mixed case (no allocation), else a lowercased copy.
    @inline(__always)
    static func lowercased(_ name: String) -> String {
        guard name.utf8.contains(where: { $0 &- 0x41 < 26 }) else { return name }
        return common(name) ?? name.lowercased()
    }

    /// The lower-case literal of a common response header name, by length first.
    static func common(_ name: String) -> String? {
        var name = name
        return name.withUTF8 { common(UnsafeRawBufferPointer($0)) }
    }

    /// The lower-case literal of a common response header name given as bytes (any case), by length first.
    static func common(_ n: UnsafeRawBufferPointer) -> String? {
        switch n.count {
        case 4:
            if n.equalsLowercase("date") { return "date" }
            if n.equalsLowercase("etag") { return "etag" }
            if n.equalsLowercase("vary") { return "vary" }
        case 6: if n.equalsLowercase("server") { return "server" }
        case 7: if n.equalsLowercase("expires") { return "expires" }
        case 8: if n.equalsLowercase("location") { return "location" }
        case 10: if n.equalsLowercase("set-cookie") { return "set-cookie" }
        case 12: if n.equalsLowercase("content-type") { return "content-type" }
        case 13:
            if n.equalsLowercase("last-modified") { return "last-modified" }
            if n.equalsLowercase("cache-control") { return "cache-control" }
            if n.equalsLowercase("accept-ranges") { return "accept-ranges" }
        case 14: if n.equalsLowercase("content-length") { return "content-length" }
        case 16: if n.equalsLowercase("content-encoding") { return "content-encoding" }
        default: break
        }
        return nil
    }
}

/// Why a request header block is not a valid request head (RFC 9113 §8.3).
struct HTTP2RequestHeadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = "malformed HTTP/2 request head: " + description }
}
