import NIOCore

/// One field line of a head, as offsets into the head's bytes: nothing is copied or decoded until asked.
public struct HTTP1Field: Sendable, Hashable {
    public var nameStart: Int32
    public var nameEnd: Int32
    public var valueStart: Int32
    public var valueEnd: Int32
    /// The field names the parser acts on, recognised once.
    public var known: KnownName

    /// Field names with a meaning for framing, routing or the connection.
    public enum KnownName: UInt8, Sendable {
        case other, host, contentLength, transferEncoding, connection, upgrade, expect
    }
}

/// A request or response head exactly as it arrived — the bytes of its start line and field lines in the
/// buffer they were read into — with where each part is and how the body that follows is framed.
///
/// A value: copies share the bytes (ByteBuffer is copy-on-write), none are ever changed.
public struct HTTP1Head: Sendable {
    /// The head's bytes, from the start line to the empty line that ends it (included).
    public let bytes: ByteBuffer
    /// Request: the method; response: the three status digits. Offsets into `bytes`.
    public let first: Range<Int>
    /// Request: the target; response: the reason phrase (possibly empty).
    public let second: Range<Int>
    public let versionMinor: UInt8
    /// The status code of a response; 0 for a request.
    public let status: Int
    public let fields: [HTTP1Field]
    /// The `Connection` options that matter to the codec.
    public let connection: ConnectionOptions
    /// How the body after this head is delimited (responses: before the request method is known, see
    /// `HTTP1ResponseFraming`).
    public let framing: HTTP1Framing
    /// A request that asks to switch protocols (`Upgrade` with `Connection: upgrade`, or `CONNECT`): the
    /// codec stops parsing after it.
    public let upgrade: Bool

    /// `Connection` tokens (RFC 9110 §7.6.1) the codec acts on.
    public struct ConnectionOptions: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let close = ConnectionOptions(rawValue: 1)
        public static let keepAlive = ConnectionOptions(rawValue: 2)
        public static let upgrade = ConnectionOptions(rawValue: 4)
        /// `keep-alive` more than once.
        public static let keepAliveRepeated = ConnectionOptions(rawValue: 8)
    }

    /// Whether the connection persists after this message (RFC 9112 §9.3), read as NIO does: `close`
    /// closes, so does a repeated `keep-alive`; one `keep-alive` keeps; otherwise HTTP/1.1 keeps and
    /// HTTP/1.0 closes.
    public var keepsAlive: Bool {
        if connection.contains(.close) || connection.contains(.keepAliveRepeated) { return false }
        return connection.contains(.keepAlive) || versionMinor >= 1
    }

    /// The bytes at `range` of the head, as a String (UTF-8; bytes that are not become U+FFFD).
    public func string(_ range: Range<Int>) -> String {
        bytes.getString(at: bytes.readerIndex + range.lowerBound, length: range.count) ?? ""
    }

    public func name(_ field: HTTP1Field) -> String { string(Int(field.nameStart)..<Int(field.nameEnd)) }
    public func value(_ field: HTTP1Field) -> String { string(Int(field.valueStart)..<Int(field.valueEnd)) }

    /// Calls `body` with the bytes at `range` of the head, in place (no copy).
    public func withBytes<T>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try bytes.withUnsafeReadableBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }
}

/// How a message body is delimited (RFC 9112 §6.3).
public enum HTTP1Framing: Sendable, Hashable {
    /// No body.
    case none
    /// Exactly this many bytes.
    case length(Int64)
    /// Chunked transfer coding.
    case chunked
    /// Until the connection closes (responses only).
    case untilClose
}
