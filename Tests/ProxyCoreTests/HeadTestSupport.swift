import HTTP1Codec
import NIOCore
import NIOHTTP1
import RouteModel

@testable import ProxyCore

/// Tests speak NIO's head types; the proxy's own carry a parsed head, NIO's, or bytes. These read any of
/// them back as NIO's (bytes are parsed again by Pier's parser, so a test also checks they are valid HTTP/1.1).
extension OutgoingRequestHead {
    var decoded: HTTPRequestHead {
        switch self {
        case .nio(let head): return head
        case .encoded(let head):
            var bytes = head.bytes
            var parser = HTTP1HeadParser(role: .request, maxHeadBytes: 1 << 20)
            return RequestHead(parsed: try! parser.parse(&bytes)!).nio
        }
    }

    var headers: HTTPHeaders { decoded.headers }
}

extension OutgoingResponseHead {
    var decoded: HTTPResponseHead {
        switch self {
        case .nio(let head): return head
        case .encoded(let head):
            var bytes = head.bytes
            var parser = HTTP1HeadParser(role: .response, maxHeadBytes: 1 << 20)
            let parsed = try! parser.parse(&bytes)!
            return HTTPResponseHead(version: parsed.versionMinor == 0 ? .http1_0 : .http1_1,
                                    status: HTTPResponseStatus(statusCode: parsed.status, reasonPhrase: parsed.string(parsed.second)),
                                    headers: try! parsed.headers())
        case .http2(let status, let block):
            var headers = HTTPHeaders()
            for (name, value, _) in block where name != ":status" { headers.add(name: name, value: value) }
            return HTTPResponseHead(version: .http2, status: HTTPResponseStatus(statusCode: status), headers: headers)
        }
    }

    var status: HTTPResponseStatus { HTTPResponseStatus(statusCode: statusCode) }
    var headers: HTTPHeaders { decoded.headers }
}

extension HTTPProxyStateMachine {
    mutating func requestHead(_ head: HTTPRequestHead, upgrade: UpgradeRequest, plan: RequestPlan, table: RouteTable, requestID: RequestID,
                              now: NIODeadline) -> Action {
        requestHead(RequestHead(head), upgrade: upgrade, plan: plan, table: table, requestID: requestID, now: now)
    }

    mutating func responseHead(_ head: HTTPResponseHead, invalid: String? = nil, upstream: String, now: NIODeadline,
                               pickAnother: PickAnother) -> Action {
        responseHead(ResponseHead(head), invalid: invalid, upstream: upstream, now: now, pickAnother: pickAnother)
    }
}

extension RequestHead {
    /// The head as NIO's type (values decoded, for comparison in tests).
    var nio: HTTPRequestHead {
        switch storage {
        case .nio(let head): return head
        case .parsed:
            var list: [(String, String)] = []
            forEachField { _, n, v in list.append((String(decoding: n, as: UTF8.self), String(decoding: v, as: UTF8.self))) }
            return HTTPRequestHead(version: version, method: method, uri: target, headers: HTTPHeaders(list))
        }
    }

    /// A head as Pier's codec hands it on, parsed from `text` (CRLF line ends).
    static func parsed(_ text: String) -> RequestHead {
        var bytes = ByteBuffer(string: text)
        var parser = HTTP1HeadParser(role: .request, maxHeadBytes: 1 << 20)
        return RequestHead(parsed: try! parser.parse(&bytes)!)
    }
}

extension ResponseHead {
    static func parsed(_ text: String) -> ResponseHead {
        var bytes = ByteBuffer(string: text)
        var parser = HTTP1HeadParser(role: .response, maxHeadBytes: 1 << 20)
        return ResponseHead(parsed: try! parser.parse(&bytes)!)
    }
}
