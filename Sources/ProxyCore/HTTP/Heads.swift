import HTTP1Codec
import NIOCore
import NIOHPACK
import NIOHTTP1

/// The parts between the codecs and `HTTPProxyHandler`. NIO's `HTTPPart` with Pier's head types: a head that
/// came from Pier's HTTP/1.1 codec stays in the bytes it arrived in, and a head Pier sends to an HTTP/1.1
/// peer is written as bytes once, by `ForwardedHeaders`; NIO's head types remain for HTTP/2 streams and
/// `--http1-codec nio` (`NIOPartAdapter` converts at those pipelines' edge).
typealias DownstreamRequestPart = HTTPPart<RequestHead, ByteBuffer>
typealias DownstreamResponsePart = HTTPPart<OutgoingResponseHead, IOData>
typealias UpstreamRequestPart = HTTPPart<OutgoingRequestHead, IOData>
typealias UpstreamResponsePart = HTTPPart<ResponseHead, ByteBuffer>

/// The fields of a head, read in place: names and values as the bytes they are.
protocol HeadFields {
    /// Calls `body` with each field's position, name and value, in order.
    func forEachField(_ body: (_ index: Int, _ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void)
}

extension HTTP1Head: HeadFields {
    func forEachField(_ body: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeReadableBytes { p in
            for (index, field) in fields.enumerated() {
                body(index, UnsafeRawBufferPointer(rebasing: p[Int(field.nameStart)..<Int(field.nameEnd)]),
                     UnsafeRawBufferPointer(rebasing: p[Int(field.valueStart)..<Int(field.valueEnd)]))
            }
        }
    }
}

extension HTTPHeaders: HeadFields {
    func forEachField(_ body: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        var index = 0
        for (name, value) in self {
            var name = name
            var value = value
            name.withUTF8 { n in value.withUTF8 { v in body(index, UnsafeRawBufferPointer(n), UnsafeRawBufferPointer(v)) } }
            index += 1
        }
    }
}

extension HeadFields {
    /// The first value of the field called `name` (given in lower case), decoded (bytes that are not UTF-8
    /// become U+FFFD: for reading, never for forwarding).
    func first(_ name: StaticString) -> String? {
        var found: String?
        forEachField { _, n, v in
            if found == nil, n.equalsLowercase(name) { found = String(decoding: v, as: UTF8.self) }
        }
        return found
    }

    /// Every value of the field called `name` (lower case), decoded, in order.
    func values(_ name: StaticString) -> [String] {
        var values: [String] = []
        forEachField { _, n, v in
            if n.equalsLowercase(name) { values.append(String(decoding: v, as: UTF8.self)) }
        }
        return values
    }

    func contains(_ name: StaticString) -> Bool {
        var found = false
        forEachField { _, n, _ in found = found || n.equalsLowercase(name) }
        return found
    }
}

/// A request head as it reached the proxy: parsed in place by Pier's HTTP/1.1 codec (already held to
/// `RequestValidation`'s rules), or one of NIO's (HTTP/2 streams, `--http1-codec nio`).
struct RequestHead: Sendable, Equatable, HeadFields {
    let storage: HeadStorage<HTTPRequestHead>
    let method: HTTPMethod
    let version: HTTPVersion

    init(_ head: HTTPRequestHead) {
        storage = .nio(head)
        method = head.method
        version = head.version
    }

    init(parsed head: HTTP1Head) {
        storage = .parsed(head)
        method = head.withBytes(head.first) { HTTPMethod(bytes: $0) }
        version = head.versionMinor == 0 ? .http1_0 : .http1_1
    }

    /// The request target as sent (a String of its own for a parsed head: short ones are stored inline).
    var target: String { target(interning: nil) }

    /// The request target, the String made from the same bytes before when `strings` kept one.
    func target(interning strings: StringInterner?) -> String {
        switch storage {
        case .parsed(let head):
            guard let strings else { return head.string(head.second) }
            return head.withBytes(head.second) { strings.string($0) }
        case .nio(let head): return head.uri
        }
    }

    /// The (first) `Host` field's value, the String made from the same bytes before when `strings` kept one.
    func host(interning strings: StringInterner?) -> String? {
        switch storage {
        case .parsed(let head):
            // The parser recognised the name once (`KnownName`); it also refuses a second Host.
            guard let field = head.fields.first(where: { $0.known == .host }) else { return nil }
            let range = Int(field.valueStart)..<Int(field.valueEnd)
            guard let strings else { return head.string(range) }
            return head.withBytes(range) { strings.string($0) }
        case .nio(let head): return head.headers.first(name: "host")
        }
    }

    func forEachField(_ body: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        storage.forEachField(body)
    }

    /// Whether the connection persists after this request, by its `Connection` field and version.
    var keepsAlive: Bool { storage.keepsAlive }

    /// The request's `Content-Length`, when it has one that is valid.
    var contentLength: Int64? {
        switch storage {
        case .parsed(let head):
            if case .length(let length) = head.framing { return length }
            // A zero length frames no body (`.none`) but was still stated.
            return head.fields.contains { $0.known == .contentLength } ? 0 : nil
        case .nio(let head): return RequestValidation.contentLength(head)
        }
    }

    static func == (lhs: RequestHead, rhs: RequestHead) -> Bool { lhs.storage == rhs.storage }
}

/// A response head as it came from an upstream: parsed in place by Pier's codec (held to
/// `ResponseValidation`'s rules while parsing), or NIO's (h2c streams, `--http1-codec nio`).
struct ResponseHead: Sendable, Equatable, HeadFields {
    let storage: HeadStorage<HTTPResponseHead>
    let status: HTTPResponseStatus
    let version: HTTPVersion

    init(_ head: HTTPResponseHead) {
        storage = .nio(head)
        status = head.status
        version = head.version
    }

    init(parsed head: HTTP1Head) {
        storage = .parsed(head)
        // The reason phrase is not read from here: it is relayed from the head's bytes.
        status = HTTPResponseStatus(statusCode: head.status)
        version = head.versionMinor == 0 ? .http1_0 : .http1_1
    }

    func forEachField(_ body: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        storage.forEachField(body)
    }

    var keepsAlive: Bool { storage.keepsAlive }

    /// Why the head must not be relayed, for heads Pier's codec did not parse (it refuses those itself).
    var problem: String? {
        switch storage {
        case .parsed: return nil
        case .nio(let head): return ResponseValidation.problem(head)
        }
    }

    static func == (lhs: ResponseHead, rhs: ResponseHead) -> Bool { lhs.storage == rhs.storage }
}

/// NIO's request and response heads, as far as `HeadStorage` reads them.
protocol NIOHead: Sendable, Equatable {
    var headers: HTTPHeaders { get }
    var version: HTTPVersion { get }
}

extension HTTPRequestHead: NIOHead {}
extension HTTPResponseHead: NIOHead {}

/// Where a head that reached the proxy is: in the bytes it arrived in (Pier's codec), or in NIO's type.
enum HeadStorage<Head: NIOHead>: Sendable, Equatable, HeadFields {
    case parsed(HTTP1Head)
    case nio(Head)

    func forEachField(_ body: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        switch self {
        case .parsed(let head): head.forEachField(body)
        case .nio(let head): head.headers.forEachField(body)
        }
    }

    var keepsAlive: Bool {
        switch self {
        case .parsed(let head): return head.keepsAlive
        case .nio(let head): return head.headers.keepsAlive(version: head.version)
        }
    }

    static func == (lhs: HeadStorage, rhs: HeadStorage) -> Bool {
        switch (lhs, rhs) {
        case (.parsed(let a), .parsed(let b)): return a.bytes == b.bytes
        case (.nio(let a), .nio(let b)): return a == b
        default: return false
        }
    }
}

/// A head Pier wrote as HTTP/1.1 bytes for its peer, with what the codec needs to frame the message after it.
struct EncodedHead: Sendable, Equatable {
    /// Start line, field lines, empty line.
    var bytes: ByteBuffer
    /// The body that follows is sent chunked.
    var chunked: Bool
    /// A request: whether it is HEAD (its response has no body).
    var isHEAD = false
    /// A response: its status code (0 for a request).
    var status = 0
}

/// A request head on its way to an upstream: bytes for Pier's HTTP/1.1 codec, NIO's type for h2c streams
/// and NIO's encoder.
enum OutgoingRequestHead: Sendable, Equatable {
    case encoded(EncodedHead)
    case nio(HTTPRequestHead)
}

/// A response head on its way to the client: bytes for Pier's HTTP/1.1 codec, NIO's type for HTTP/2 and
/// NIO's encoder (and for Pier's own answers, which are not on the hot path).
enum OutgoingResponseHead: Sendable, Equatable {
    case encoded(EncodedHead)
    case nio(HTTPResponseHead)
    /// An HTTP/2 response's header block, `:status` first (`HPACKHeadSink`).
    case http2(status: Int, HPACKHeaders)

    var statusCode: Int {
        switch self {
        case .encoded(let head): return head.status
        case .nio(let head): return Int(head.status.code)
        case .http2(let status, _): return status
        }
    }
}

extension HTTPMethod {
    /// The method named by `bytes` (a token the parser admitted): the common ones without a String.
    init(bytes p: UnsafeRawBufferPointer) {
        switch p.count {
        case 3 where p[0] == 0x47 && p[1] == 0x45 && p[2] == 0x54: self = .GET
        case 3 where p[0] == 0x50 && p[1] == 0x55 && p[2] == 0x54: self = .PUT
        case 4 where p[0] == 0x48 && p[1] == 0x45: self = .HEAD
        case 4 where p[0] == 0x50 && p[1] == 0x4F: self = .POST
        default: self = HTTPMethod(rawValue: String(decoding: p, as: UTF8.self))
        }
    }
}

/// The fields list Pier's codecs parse heads into, one per event loop: a head's list is let go once the head
/// has been planned (request) or written on (response), so the next head on the loop parses into the same
/// storage without allocating. Loop-confined (`LoopState`), hence the unchecked `Sendable`.
final class HeadFieldsScratch: @unchecked Sendable {
    var fields: [HTTP1Field] = []

    init() {
        fields.reserveCapacity(16)
    }
}
