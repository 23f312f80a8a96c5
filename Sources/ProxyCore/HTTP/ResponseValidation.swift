import NIOHTTP1

/// Checks on a decoded upstream response head: a response that a client could read differently from Pier,
/// or that Pier could only relay altered, is not relayed at all. The exchange gets 502 (or its retry), the
/// upstream connection is closed and passive health counts a failure.
enum ResponseValidation {
    /// Why the response is invalid, or nil when it may be relayed.
    static func problem(_ head: HTTPResponseHead) -> String? {
        let code = head.status.code
        // NIO's decoder takes any three digits; `0` or `999` would reach the client as a status line it
        // cannot parse.
        guard code >= 100, code <= 599 else { return "status \(code) is outside 100–599" }
        var contentLengths: [Substring] = []
        var transferEncoding = false
        for (name, value) in head.headers {
            if let problem = HeaderBytes.valueProblem(value, name: name) { return problem }
            switch ForwardedHeaders.Name(name) {
            case .contentLength:
                HeaderBytes.appendContentLengths(value, to: &contentLengths)
            case .transferEncoding:
                transferEncoding = true
            default:
                break
            }
        }
        if let problem = HeaderBytes.contentLengthProblem(contentLengths) { return problem }
        // Pier relays the Content-Length it received: with a Transfer-Encoding beside it the body's framing
        // would be ambiguous to the client.
        if transferEncoding, !contentLengths.isEmpty { return "both Content-Length and Transfer-Encoding" }
        return nil
    }
}
