import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import Testing

@testable import ProxyCore

/// HTTP/2 responses: values that change per response stay out of HPACK's dynamic table, cookies are never
/// indexed, the rest keeps NIO's indexing — through NIO's own HTTP/2 → HTTP/1 codec, as on a stream.
struct HPACKIndexingHandlerTests {
    @Test func responseHeadersGetTheirIndexing() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HPACKIndexingHandler())
        try channel.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
        // A request first: the codec answers on the stream it opened.
        let request: HPACKHeaders = [":method": "GET", ":path": "/", ":scheme": "https", ":authority": "a.test"]
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: request, endStream: true)))
        _ = try channel.readInbound(as: HTTPServerRequestPart.self)

        let head = HTTPResponseHead(version: .http2, status: .ok, headers: [
            "date": "Mon, 30 Nov 2026 00:00:00 GMT", "x-request-id": "abc", "x-upstream-response-time": "0.001",
            "set-cookie": "s=secret", "server": "nginx", "x-proxy-id": "pier",
        ])
        try channel.writeOutbound(HTTPServerResponsePart.head(head))
        guard case .headers(let sent) = try #require(try channel.readOutbound(as: HTTP2Frame.FramePayload.self)) else {
            Issue.record("no HEADERS frame written")
            return
        }
        var indexing: [String: HPACKIndexing] = [:]
        for (name, _, index) in sent.headers { indexing[name] = index }
        #expect(indexing["date"] == .nonIndexable)
        #expect(indexing["x-request-id"] == .nonIndexable)
        #expect(indexing["x-upstream-response-time"] == .nonIndexable)
        #expect(indexing["set-cookie"] == .neverIndexed)
        #expect(indexing["server"] == .indexable)
        #expect(indexing["x-proxy-id"] == .indexable)
        #expect(sent.headers.first?.name == ":status", "the pseudo-header stays first")
        #expect(sent.headers[canonicalForm: "set-cookie"] == ["s=secret"])
        _ = try channel.finish()
    }
}
