import NIOCore

/// Finds and parses one HTTP/1.1 head (RFC 9112 §2–§6) at the start of a buffer, in place: the start line
/// and field lines are checked against the grammar exactly, the framing fields are read once, and the head
/// comes back as offsets into its own bytes (`HTTP1Head`).
///
/// Incremental: a head that arrives in pieces is scanned once; the parser remembers how far it got. Strict:
/// bare CR or LF, NUL and other controls, obs-fold, whitespace before a colon, invalid tokens, unknown methods,
/// versions other than 1.0 and 1.1, a Content-Length other than one canonical number in one field,
/// Transfer-Encoding beside Content-Length or without `chunked` last, duplicate or (HTTP/1.1) missing Host,
/// and heads over the limit are refused with the reason. A value: no IO, no clock.
public struct HTTP1HeadParser: Sendable {
    /// Which start line to expect.
    public enum Role: Sendable {
        case request, response
        /// A chunked body's trailer section: field lines without a start line.
        case trailers
    }

    public let role: Role
    /// The largest head accepted, start line and empty line included.
    public let maxHeadBytes: Int
    /// Bytes at the start of the buffer already checked for line endings.
    private var scanned = 0
    private var lineStart = 0
    private var emptyLinesSkipped = 0

    /// Empty lines (CRLF) ignored before a request line (RFC 9112 §2.2 asks for at least one).
    static let maxLeadingEmptyLines = 4

    public init(role: Role, maxHeadBytes: Int) {
        self.role = role
        self.maxHeadBytes = maxHeadBytes
    }

    /// Whether part of a head has arrived (its first byte is in the buffer) but not all of it.
    public var inProgress: Bool { scanned > 0 }

    /// Parses the head at the start of `buffer`'s readable bytes, reading (consuming) it when complete.
    /// Returns nil when more bytes are needed; the parser then remembers how far it scanned, and must be
    /// given the same bytes again (with more after them).
    public mutating func parse(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> HTTP1Head? {
        var fields: [HTTP1Field] = []
        return try parse(&buffer, fields: &fields)
    }

    /// `parse`, with the fields list in `fields` (emptied first, its capacity kept): a caller that keeps one
    /// list for many heads — one per event loop, say — parses without allocating one per head, as long as
    /// the previous head has let go of it (otherwise copy-on-write gives the new head a list of its own).
    public mutating func parse(_ buffer: inout ByteBuffer, fields: inout [HTTP1Field]) throws(HTTP1ParseError) -> HTTP1Head? {
        if role == .request, scanned == 0 { try skipLeadingEmptyLines(&buffer) }
        guard let end = try findEnd(buffer) else {
            if buffer.readableBytes > maxHeadBytes { throw HTTP1ParseError(.headTooLarge, "the head is over the \(maxHeadBytes)-byte limit") }
            return nil
        }
        scanned = 0
        lineStart = 0
        emptyLinesSkipped = 0
        if end > maxHeadBytes { throw HTTP1ParseError(.headTooLarge, "the head is over the \(maxHeadBytes)-byte limit") }
        let bytes = buffer.readSlice(length: end)!
        fields.removeAll(keepingCapacity: true)
        return try Self.parseHead(bytes, role: role, fields: &fields)
    }

    private mutating func skipLeadingEmptyLines(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) {
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            emptyLinesSkipped += 1
            if emptyLinesSkipped > Self.maxLeadingEmptyLines { throw .malformed("empty lines instead of a request line") }
            buffer.moveReaderIndex(forwardBy: 2)
        }
    }

    /// The length of the head (through its empty line) if it is complete. Every LF must follow a CR and
    /// every CR precede an LF: a bare one is refused here, before the rest of the head arrives.
    private mutating func findEnd(_ buffer: ByteBuffer) throws(HTTP1ParseError) -> Int? {
        var scanned = self.scanned
        var lineStart = self.lineStart
        let result: Result<Int?, HTTP1ParseError> = buffer.withUnsafeReadableBytes { p in
            let n = p.count
            while scanned < n {
                let c = p[scanned]
                if c == 0x0A {
                    guard scanned > 0, p[scanned - 1] == 0x0D else { return .failure(.malformed("a line ends in a bare LF")) }
                    if scanned - lineStart == 1 { return .success(scanned + 1) }
                    lineStart = scanned + 1
                } else if c == 0x0D {
                    guard scanned + 1 < n else { return .success(nil) }
                    guard p[scanned + 1] == 0x0A else { return .failure(.malformed("a bare CR")) }
                }
                scanned += 1
            }
            return .success(nil)
        }
        self.scanned = scanned
        self.lineStart = lineStart
        return try result.get()
    }

    // MARK: - Grammar

    /// Parses a complete head (its bytes end with CRLF CRLF and hold no bare CR or LF).
    static func parseHead(_ bytes: ByteBuffer, role: Role) throws(HTTP1ParseError) -> HTTP1Head {
        var fields: [HTTP1Field] = []
        return try parseHead(bytes, role: role, fields: &fields)
    }

    /// `parseHead`, appending the fields to `fields` (empty, its capacity reused) and handing it to the head.
    static func parseHead(_ bytes: ByteBuffer, role: Role, fields: inout [HTTP1Field]) throws(HTTP1ParseError) -> HTTP1Head {
        let parsed: Result<HTTP1Head, HTTP1ParseError> = bytes.withUnsafeReadableBytes { p in
            do throws(HTTP1ParseError) {
                var reader = LineReader(p: p)
                let line: StartLine
                switch role {
                case .request: line = try reader.requestLine()
                case .response: line = try reader.statusLine()
                case .trailers: line = StartLine(first: 0..<0, second: 0..<0, minor: 1)
                }
                var facts = FieldFacts()
                if fields.capacity == 0 { fields.reserveCapacity(12) }
                while let field = try reader.fieldLine() {
                    fields.append(field)
                    try facts.note(field, p)
                }
                let framing: HTTP1Framing
                var upgrade = false
                switch role {
                case .request:
                    // A CONNECT request has no body whatever its fields say (RFC 9110 §9.3.6 gives its content no
                    // meaning, and llhttp reads none): what follows its head is the tunnel's. The fields are still
                    // checked, so that an ambiguous head is refused all the same.
                    let framed = try facts.requestFraming(minor: line.minor)
                    framing = line.connect ? .none : framed
                    upgrade = line.connect || (facts.connection.contains(.upgrade) && facts.upgradeFields > 0)
                case .response:
                    framing = try facts.responseFraming(minor: line.minor, status: line.status)
                case .trailers:
                    // RFC 9110 §6.5.1: framing and routing fields must not come as trailers.
                    if facts.hosts + facts.contentLengthFields + facts.transferEncodings > 0 {
                        throw .malformed("a framing or routing field in the trailers")
                    }
                    framing = .none
                }
                return .success(HTTP1Head(bytes: bytes, first: line.first, second: line.second, versionMinor: line.minor,
                                          status: line.status, fields: fields, connection: facts.connection,
                                          framing: framing, upgrade: upgrade))
            } catch {
                return .failure(error)
            }
        }
        return try parsed.get()
    }
}

/// What the start line said.
struct StartLine {
    var first: Range<Int>
    var second: Range<Int>
    var minor: UInt8
    var status = 0
    var connect = false
}

/// Walks a complete head line by line. Offsets are into the head's bytes.
struct LineReader {
    let p: UnsafeRawBufferPointer
    var i = 0

    private static let sp: UInt8 = 0x20
    private static let htab: UInt8 = 0x09
    private static let cr: UInt8 = 0x0D

    /// `method SP request-target SP HTTP-version CRLF`, single spaces only.
    mutating func requestLine() throws(HTTP1ParseError) -> StartLine {
        let methodStart = i
        while ByteClass.isTokenByte(p[i]) { i += 1 }
        let method = methodStart..<i
        guard !method.isEmpty, p[i] == Self.sp else { throw .malformed("invalid request line") }
        guard let known = KnownMethod(p, method) else { throw .malformed("unknown method") }
        i += 1
        let targetStart = i
        while ByteClass.isTargetByte(p[i]) { i += 1 }
        let target = targetStart..<i
        guard !target.isEmpty else { throw .malformed("invalid request target") }
        guard p[i] == Self.sp else {
            throw .malformed(p[i] == Self.cr ? "no HTTP version (HTTP/0.9 is not served)" : "invalid byte in the request target")
        }
        guard hasTargetForm(target, connect: known == .connect) else { throw .malformed("invalid request target") }
        i += 1
        let minor = try version()
        guard p[i] == Self.cr else { throw .malformed("invalid request line") }
        i += 2
        return StartLine(first: method, second: target, minor: minor, connect: known == .connect)
    }

    /// Whether a target has one of the forms llhttp (NIO's decoder, Node's) reads (RFC 9112 §3.2): CONNECT's
    /// authority; otherwise a path (`/…`, or `*…`), or `scheme://authority` followed by nothing, a path or a
    /// query. Pier passes on no target such a hop would refuse (found by fuzz-http1-request: `)/`).
    private func hasTargetForm(_ target: Range<Int>, connect: Bool) -> Bool {
        var k = target.lowerBound
        if !connect {
            if p[k] == 0x2F || p[k] == 0x2A { return true }
            while k < target.upperBound, ByteClass.isAlpha(p[k]) { k += 1 }
            guard k > target.lowerBound, target.upperBound - k >= 3, p[k] == 0x3A, p[k + 1] == 0x2F, p[k + 2] == 0x2F else { return false }
            k += 3
        }
        var at = false
        while k < target.upperBound {
            let c = p[k]
            if c == 0x40, !at {
                at = true
            } else if !ByteClass.isAuthorityByte(c) {
                return !connect && (c == 0x2F || c == 0x3F)
            }
            k += 1
        }
        return true
    }

    /// `HTTP-version SP status-code SP [ reason-phrase ] CRLF` (a missing SP before an empty reason is
    /// accepted: no framing depends on it).
    mutating func statusLine() throws(HTTP1ParseError) -> StartLine {
        let minor = try version()
        guard p[i] == Self.sp else { throw .malformed("invalid status line") }
        i += 1
        let codeStart = i
        var status = 0
        while i < codeStart + 3, ByteClass.isDigit(p[i]) {
            status = status * 10 + Int(p[i] &- 0x30)
            i += 1
        }
        guard i == codeStart + 3 else { throw .malformed("invalid status code") }
        guard status >= 100, status <= 599 else { throw .malformed("status \(status) is outside 100–599") }
        let code = codeStart..<i
        var reason = i..<i
        if p[i] == Self.sp {
            i += 1
            let reasonStart = i
            while p[i] != Self.cr {
                guard ByteClass.isFieldValueByte(p[i]) else { throw .malformed("invalid byte in the reason phrase") }
                i += 1
            }
            reason = reasonStart..<i
        }
        guard p[i] == Self.cr else { throw .malformed("invalid status line") }
        i += 2
        return StartLine(first: code, second: reason, minor: minor, status: status)
    }

    /// `HTTP/1.0` or `HTTP/1.1`; returns the minor version.
    private mutating func version() throws(HTTP1ParseError) -> UInt8 {
        guard p.count - i >= 10, p[i] == 0x48, p[i + 1] == 0x54, p[i + 2] == 0x54, p[i + 3] == 0x50, p[i + 4] == 0x2F,
              ByteClass.isDigit(p[i + 5]), p[i + 6] == 0x2E, ByteClass.isDigit(p[i + 7])
        else { throw .malformed("invalid HTTP version") }
        let major = p[i + 5] &- 0x30
        let minor = p[i + 7] &- 0x30
        guard major == 1, minor <= 1 else { throw HTTP1ParseError(.unsupportedVersion, "HTTP/\(major).\(minor) is not supported") }
        i += 8
        return minor
    }

    /// The next field line, or nil at the empty line that ends the head.
    mutating func fieldLine() throws(HTTP1ParseError) -> HTTP1Field? {
        if p[i] == Self.cr { return nil }
        if p[i] == Self.sp || p[i] == Self.htab { throw .malformed("obs-fold (a field line that starts with whitespace)") }
        let nameStart = i
        while ByteClass.isTokenByte(p[i]) { i += 1 }
        let nameEnd = i
        guard p[i] == 0x3A, nameEnd > nameStart else {
            if nameEnd > nameStart, p[i] == Self.sp || p[i] == Self.htab { throw .malformed("whitespace before a colon") }
            throw .malformed("invalid field name")
        }
        i += 1
        while p[i] == Self.sp || p[i] == Self.htab { i += 1 }
        let valueStart = i
        while p[i] != Self.cr {
            guard ByteClass.isFieldValueByte(p[i]) else { throw .malformed("invalid byte in a field value") }
            i += 1
        }
        var valueEnd = i
        while valueEnd > valueStart, p[valueEnd - 1] == Self.sp || p[valueEnd - 1] == Self.htab { valueEnd -= 1 }
        i += 2
        return HTTP1Field(nameStart: Int32(nameStart), nameEnd: Int32(nameEnd), valueStart: Int32(valueStart),
                          valueEnd: Int32(valueEnd), known: Self.knownName(p, nameStart, nameEnd))
    }

    static func knownName(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> HTTP1Field.KnownName {
        switch end - start {
        case 4: return equalsLower(p, start, "host") ? .host : .other
        case 6: return equalsLower(p, start, "expect") ? .expect : .other
        case 7: return equalsLower(p, start, "upgrade") ? .upgrade : .other
        case 10: return equalsLower(p, start, "connection") ? .connection : .other
        case 14: return equalsLower(p, start, "content-length") ? .contentLength : .other
        case 17: return equalsLower(p, start, "transfer-encoding") ? .transferEncoding : .other
        default: return .other
        }
    }

    /// Whether the bytes at `start` are `lower` (lower-case ASCII), compared case-insensitively.
    @inline(__always)
    static func equalsLower(_ p: UnsafeRawBufferPointer, _ start: Int, _ lower: StaticString) -> Bool {
        let n = lower.utf8CodeUnitCount
        guard start + n <= p.count else { return false }
        return lower.withUTF8Buffer { l in
            for k in 0..<n where ByteClass.lower(p[start + k]) != l[k] { return false }
            return true
        }
    }
}

/// The framing facts of a head's fields, gathered as they are read.
struct FieldFacts {
    var hosts = 0
    var contentLength: Int64?
    var contentLengthFields = 0
    var transferEncodings = 0
    var chunkedLast = false
    var chunkedEarlier = false
    var connection: HTTP1Head.ConnectionOptions = []
    var upgradeFields = 0

    mutating func note(_ field: HTTP1Field, _ p: UnsafeRawBufferPointer) throws(HTTP1ParseError) {
        let value = Int(field.valueStart)..<Int(field.valueEnd)
        switch field.known {
        case .other, .expect:
            return
        case .host:
            hosts += 1
            // RFC 9110 §7.2: uri-host [":" port]. The value is relayed as its bytes but routed as text: a byte
            // outside the grammar (obs-text, a space) would make the two disagree on the host.
            guard value.allSatisfy({ ByteClass.isAuthorityByte(p[$0]) }) else { throw .malformed("invalid Host") }
        case .upgrade:
            upgradeFields += 1
        case .contentLength:
            contentLengthFields += 1
            // One field, one number: RFC 9110 §8.6 lets a recipient accept a list of equal values (`5, 5`,
            // or the field twice), but llhttp (NIO's decoder, Node's) refuses both, and the field is
            // forwarded as it came: an upstream would answer 400, or frame the body otherwise.
            if contentLengthFields > 1 { throw .malformed("more than one Content-Length") }
            contentLength = try Self.contentLength(p, value)
            // llhttp takes spaces after the number, not a tab (found by fuzz-http1-response: `2 \t`).
            var k = value.upperBound
            while p[k] != 0x0D {
                if p[k] == 0x09 { throw .malformed("invalid Content-Length") }
                k += 1
            }
        case .transferEncoding:
            transferEncodings += 1
            try forEachElement(p, value) { (element) throws(HTTP1ParseError) in
                guard !element.isEmpty, element.allSatisfy({ ByteClass.isTokenByte(p[$0]) }) else {
                    throw .malformed("invalid Transfer-Encoding")
                }
                if chunkedLast { chunkedEarlier = true }
                chunkedLast = element.count == 7 && LineReader.equalsLower(p, element.lowerBound, "chunked")
            }
        case .connection:
            try forEachElement(p, value) { (element) throws(HTTP1ParseError) in
                switch element.count {
                case 5 where LineReader.equalsLower(p, element.lowerBound, "close"): connection.insert(.close)
                case 7 where LineReader.equalsLower(p, element.lowerBound, "upgrade"): connection.insert(.upgrade)
                case 10 where LineReader.equalsLower(p, element.lowerBound, "keep-alive"):
                    if connection.contains(.keepAlive) { connection.insert(.keepAliveRepeated) }
                    connection.insert(.keepAlive)
                default: break
                }
            }
        }
    }

    /// Calls `body` with each comma-separated element of a list value, without its surrounding whitespace
    /// (RFC 9110 §5.6.1); empty elements are passed too.
    private func forEachElement(_ p: UnsafeRawBufferPointer, _ value: Range<Int>,
                                _ body: (Range<Int>) throws(HTTP1ParseError) -> Void) throws(HTTP1ParseError) {
        var start = value.lowerBound
        while true {
            var end = start
            while end < value.upperBound, p[end] != 0x2C { end += 1 }
            var a = start
            var b = end
            while a < b, p[a] == 0x20 || p[a] == 0x09 { a += 1 }
            while b > a, p[b - 1] == 0x20 || p[b - 1] == 0x09 { b -= 1 }
            try body(a..<b)
            if end >= value.upperBound { return }
            start = end + 1
        }
    }

    /// A Content-Length element: canonical decimal (no sign, no leading zero but a lone `0`, at most 18
    /// digits). `010` is refused: a recipient that reads it as octal would frame the body differently.
    private static func contentLength(_ p: UnsafeRawBufferPointer, _ element: Range<Int>) throws(HTTP1ParseError) -> Int64 {
        guard !element.isEmpty, element.count <= 18, element.count == 1 || p[element.lowerBound] != 0x30 else {
            throw .malformed("invalid Content-Length")
        }
        var value: Int64 = 0
        for k in element {
            guard ByteClass.isDigit(p[k]) else { throw .malformed("invalid Content-Length") }
            value = value * 10 + Int64(p[k] &- 0x30)
        }
        return value
    }

    private func transferCoding(minor: UInt8, role: String) throws(HTTP1ParseError) {
        if minor == 0 { throw .malformed("Transfer-Encoding in an HTTP/1.0 \(role)") }
        if contentLengthFields > 0 { throw .malformed("both Content-Length and Transfer-Encoding") }
        if !chunkedLast || chunkedEarlier { throw .malformed("invalid Transfer-Encoding: chunked must be the last coding, once") }
    }

    /// RFC 9112 §6.3 for a request, and the Host rules of §3.2.
    func requestFraming(minor: UInt8) throws(HTTP1ParseError) -> HTTP1Framing {
        if hosts > 1 { throw .malformed("more than one Host header") }
        if hosts == 0, minor == 1 { throw .malformed("missing Host header") }
        if transferEncodings > 0 {
            try transferCoding(minor: minor, role: "request")
            return .chunked
        }
        if let contentLength, contentLength > 0 { return .length(contentLength) }
        return .none
    }

    /// RFC 9112 §6.3 for a response, before the request's method is considered (a response to HEAD has no
    /// body whatever its head says). Stricter than the RFC where a client could frame it otherwise: a
    /// Transfer-Encoding beside a Content-Length, without `chunked` last, or in HTTP/1.0 is refused.
    func responseFraming(minor: UInt8, status: Int) throws(HTTP1ParseError) -> HTTP1Framing {
        if transferEncodings > 0 { try transferCoding(minor: minor, role: "response") }
        // An interim response that ends the connection (llhttp's keep-alive rule: HTTP/1.0 without
        // `keep-alive`, HTTP/1.1 with `close`) leaves no way to send the final one: llhttp refuses what
        // follows it (found by fuzz-http1-response).
        if status < 200, status != 101, minor == 0 ? !connection.contains(.keepAlive) : connection.contains(.close) {
            throw .malformed("an interim response that closes the connection")
        }
        if status < 200 || status == 204 || status == 304 { return .none }
        if transferEncodings > 0 { return .chunked }
        if let contentLength { return .length(contentLength) }
        return .untilClose
    }
}

/// The methods NIO's llhttp accepts (its HTTP method map): Pier accepts no other, so that it never passes
/// on a request another HTTP/1.1 implementation would refuse.
enum KnownMethod: UInt8 {
    case get, head, post, put, delete, connect, options, trace, patch, other

    init?(_ p: UnsafeRawBufferPointer, _ range: Range<Int>) {
        let s = range.lowerBound
        switch range.count {
        case 3:
            if Self.equals(p, s, "GET") { self = .get; return }
            if Self.equals(p, s, "PUT") { self = .put; return }
            if Self.equals(p, s, "ACL") { self = .other; return }
        case 4:
            if Self.equals(p, s, "POST") { self = .post; return }
            if Self.equals(p, s, "HEAD") { self = .head; return }
            for m: StaticString in ["COPY", "LOCK", "MOVE", "BIND", "LINK"] where Self.equals(p, s, m) { self = .other; return }
        case 5:
            if Self.equals(p, s, "PATCH") { self = .patch; return }
            if Self.equals(p, s, "TRACE") { self = .trace; return }
            for m: StaticString in ["MKCOL", "MERGE", "PURGE", "QUERY"] where Self.equals(p, s, m) { self = .other; return }
        case 6:
            if Self.equals(p, s, "DELETE") { self = .delete; return }
            for m: StaticString in ["NOTIFY", "SEARCH", "UNLOCK", "REBIND", "UNBIND", "REPORT", "UNLINK", "SOURCE"]
            where Self.equals(p, s, m) { self = .other; return }
        case 7:
            if Self.equals(p, s, "OPTIONS") { self = .options; return }
            if Self.equals(p, s, "CONNECT") { self = .connect; return }
        case 8:
            for m: StaticString in ["M-SEARCH", "PROPFIND", "CHECKOUT"] where Self.equals(p, s, m) { self = .other; return }
        case 9:
            for m: StaticString in ["PROPPATCH", "SUBSCRIBE"] where Self.equals(p, s, m) { self = .other; return }
        case 10:
            for m: StaticString in ["MKCALENDAR", "MKACTIVITY"] where Self.equals(p, s, m) { self = .other; return }
        case 11:
            if Self.equals(p, s, "UNSUBSCRIBE") { self = .other; return }
        default:
            break
        }
        return nil
    }

    /// Methods are case-sensitive (RFC 9110 §9.1).
    @inline(__always)
    static func equals(_ p: UnsafeRawBufferPointer, _ start: Int, _ method: StaticString) -> Bool {
        method.withUTF8Buffer { m in
            for k in 0..<m.count where p[start + k] != m[k] { return false }
            return true
        }
    }
}
