import HTTP1Codec
import NIOHTTP1

/// The errors of either HTTP/1.1 codec (Pier's `HTTP1ParseError`, NIO's `HTTPParserError`), as the proxy
/// handler tells them apart.
enum DecodeError {
    /// Whether `error` says the peer sent something unparsable (rather than a failure of the connection).
    static func isParseError(_ error: any Error) -> Bool {
        error is HTTPParserError || error is HTTP1ParseError
    }

    static func isHeadTooLarge(_ error: any Error) -> Bool {
        if let error = error as? HTTP1ParseError { return error.kind == .headTooLarge }
        return (error as? HTTPParserError) == .headerOverflow
    }

    /// `error` when an upstream's response could not be read; nil for a plain close (including one inside a
    /// message, which is a close, not an invalid response).
    static func unparsable(_ error: (any Error)?) -> (any Error)? {
        if let error = error as? HTTP1ParseError { return error.kind == .truncated ? nil : error }
        return error as? HTTPParserError
    }
}
