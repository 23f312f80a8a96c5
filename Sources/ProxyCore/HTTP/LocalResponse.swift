import NIOCore
import NIOHTTP1
import RouteModel

/// Responses Pier writes itself (errors, redirects): short plain-text bodies that say which side failed.
struct LocalResponse {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders = [:]
    var body: String
    /// Why Pier answers an error; nil for redirects. The status derives from it.
    var cause: FailureCause?

    /// The answer to a failure: its status from the cause, the body `<code> <reason>: <detail>`.
    static func failure(_ cause: FailureCause, _ detail: String) -> LocalResponse {
        // Every kind that reaches a local answer has a status (FailureCauseTests); 500 would only mean a kind
        // answered that should have closed.
        let status = HTTPResponseStatus(statusCode: cause.status ?? 500)
        return LocalResponse(status: status, body: "\(status.code) \(status.reasonPhrase): \(detail)\n", cause: cause)
    }

    static func redirect(to location: String, status: Int) -> LocalResponse {
        let s = HTTPResponseStatus(statusCode: status)
        var r = LocalResponse(status: s, body: "\(s.code) \(s.reasonPhrase): \(location)\n")
        r.headers.add(name: "location", value: location)
        return r
    }

    func head(version: HTTPVersion, keepAlive: Bool, requestID: String?, proxyID: String?, serverInfo: String?) -> HTTPResponseHead {
        var h = headers
        h.add(name: "content-type", value: "text/plain; charset=utf-8")
        h.add(name: "content-length", value: String(body.utf8.count))
        if let requestID { h.add(name: "x-request-id", value: requestID) }
        if let proxyID { h.add(name: "x-proxy-id", value: proxyID) }
        if let serverInfo { h.add(name: "x-server-info", value: serverInfo) }
        if !keepAlive, version.major == 1 { h.add(name: "connection", value: "close") }
        return HTTPResponseHead(version: version == .http1_0 ? .http1_0 : .http1_1, status: status, headers: h)
    }
}
