/// Why a message was refused by Pier's HTTP/1.1 parser: a head or body that does not follow RFC 9112
/// exactly, or that another hop could frame differently. Nothing of a refused message is forwarded.
public struct HTTP1ParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of answer the refusal deserves.
    public enum Kind: Hashable, Sendable {
        /// The head is larger than the limit (a request gets 431).
        case headTooLarge
        /// The message breaks the grammar or its framing is ambiguous (a request gets 400, a response 502).
        case malformed
        /// The HTTP version is not 1.0 or 1.1 (a request gets 505).
        case unsupportedVersion
        /// The connection ended inside a message.
        case truncated
        /// Bytes came from an upstream that was not asked anything.
        case unsolicited
    }

    public let kind: Kind
    /// One line for the answer's body and the log, e.g. `both Content-Length and Transfer-Encoding`.
    public let reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    public var description: String { reason }

    public static func malformed(_ reason: String) -> Self { Self(.malformed, reason) }
}
