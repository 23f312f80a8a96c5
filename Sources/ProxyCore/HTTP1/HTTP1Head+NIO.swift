import HTTP1Codec
import NIOCore
import NIOHTTP1

/// The bridge from trailers parsed in place to NIO's `HTTPHeaders` (heads stay in place: `RequestHead`,
/// `ResponseHead`).
///
/// Field values may hold obs-text (bytes above 0x7E), which the grammar allows; a Swift `String` cannot carry
/// bytes that are not UTF-8 unchanged, so such a value is refused here rather than forwarded altered.
extension HTTP1Head {
    /// The fields as `HTTPHeaders` (trailers).
    func headers() throws(HTTP1ParseError) -> HTTPHeaders {
        try bytes.withUnsafeReadableBytes { p in Self.headers(p, fields) }.get()
    }

    private static func headers(_ p: UnsafeRawBufferPointer, _ fields: [HTTP1Field]) -> Result<HTTPHeaders, HTTP1ParseError> {
        var list: [(String, String)] = []
        list.reserveCapacity(fields.count)
        for field in fields {
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: p[Int(field.nameStart)..<Int(field.nameEnd)]), as: UTF8.self)
            guard let value = String(validating: UnsafeRawBufferPointer(rebasing: p[Int(field.valueStart)..<Int(field.valueEnd)]), as: UTF8.self)
            else {
                return .failure(.malformed("header \(name) has bytes that are not UTF-8; Pier forwards field values unchanged or not at all"))
            }
            list.append((name, value))
        }
        return .success(HTTPHeaders(list))
    }
}

/// Writes NIO heads as HTTP/1.1 bytes: start line, the fields as given (Pier states framing itself, so
/// nothing is added or removed), the empty line.
enum HTTP1HeadWriter {
    static func write(_ head: HTTPResponseHead, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(head.version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        let code = head.status.code
        buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + code / 100 % 10))
        buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + code / 10 % 10))
        buffer.writeInteger(UInt8(truncatingIfNeeded: 0x30 + code % 10))
        buffer.writeInteger(UInt8(0x20))
        buffer.writeString(head.status.reasonPhrase)
        buffer.writeStaticString("\r\n")
        write(head.headers, into: &buffer)
    }

    static func write(_ head: HTTPRequestHead, into buffer: inout ByteBuffer) {
        buffer.writeString(head.method.rawValue)
        buffer.writeInteger(UInt8(0x20))
        buffer.writeString(head.uri)
        buffer.writeStaticString(head.version.minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n")
        write(head.headers, into: &buffer)
    }

    /// The bytes `write` will take for `headers` (field lines and the empty line), so that a head's buffer is
    /// allocated once, at its size.
    static func size(of headers: HTTPHeaders) -> Int {
        var size = 2
        for (name, value) in headers { size += name.utf8.count + value.utf8.count + 4 }
        return size
    }

    static func size(of head: HTTPResponseHead) -> Int {
        15 + head.status.reasonPhrase.utf8.count + size(of: head.headers)
    }

    static func size(of head: HTTPRequestHead) -> Int {
        12 + head.method.rawValue.utf8.count + head.uri.utf8.count + size(of: head.headers)
    }

    /// Field lines and the empty line after them.
    static func write(_ headers: HTTPHeaders, into buffer: inout ByteBuffer) {
        for (name, value) in headers {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    /// Whether a message with these fields is sent chunked: `chunked` is its last transfer coding.
    static func isChunked(_ headers: HTTPHeaders) -> Bool {
        var chunked = false
        for (name, value) in headers where name.utf8.count == 17 && equalsLower(name, "transfer-encoding") {
            chunked = endsWithChunked(value)
        }
        return chunked
    }

    private static func equalsLower(_ text: String, _ lower: StaticString) -> Bool {
        var text = text
        return text.withUTF8 { t in
            lower.withUTF8Buffer { l in
                guard t.count == l.count else { return false }
                for k in 0..<t.count where (t[k] >= 0x41 && t[k] <= 0x5A ? t[k] | 0x20 : t[k]) != l[k] { return false }
                return true
            }
        }
    }

    /// Whether the list's last element is the `chunked` coding (case-insensitive, whitespace around it).
    private static func endsWithChunked(_ value: String) -> Bool {
        let bytes = Substring(value).trimmingSpaces().utf8
        guard bytes.count >= 7 else { return false }
        let tail = bytes.suffix(7)
        guard zip(tail, "chunked".utf8).allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0) == $1 }) else { return false }
        guard let before = bytes.dropLast(7).last else { return true }
        return before == 0x2C || before == 0x20 || before == 0x09
    }
}
