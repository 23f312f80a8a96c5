import HTTP1Codec
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import ProxyCore

/// Pier's two codec handlers on an `EmbeddedChannel`, byte for byte: what they pass on, what they write, and
/// where they stop.
struct HTTP1CodecHandlerTests {
    // MARK: - Server side

    static func server() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: HTTP1ServerCodecHandler(maxHeadBytes: 8192))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return channel
    }

    /// Everything the handler passed on, as short strings.
    static func parts(_ channel: EmbeddedChannel) throws -> [String] {
        var out: [String] = []
        while let part = try channel.readInbound(as: DownstreamRequestPart.self) {
            switch part {
            case .head(let head): out.append("head \(head.method.rawValue) \(head.target)")
            case .body(let body): out.append("body \(String(buffer: body))")
            case .end(let trailers): out.append(trailers.map { "end \($0.map { "\($0.name)=\($0.value)" })" } ?? "end")
            }
        }
        return out
    }

    @Test func requestsInOneReadAndChunkedBodiesInPieces() throws {
        let channel = try Self.server()
        try channel.writeInbound(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab"))
        #expect(try Self.parts(channel) == ["head GET /a", "end", "head POST /b", "body ab"])
        try channel.writeInbound(ByteBuffer(string: "c\r\n0\r\nX-T: 1\r\n\r\n"))
        #expect(try Self.parts(channel) == ["body c", "end [\"X-T=1\"]"])
    }

    @Test func theFirstMalformedByteEndsParsingForGood() throws {
        let channel = try Self.server()
        #expect(throws: HTTP1ParseError.self) {
            try channel.writeInbound(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\nHost: x\r\n\r\n"))
        }
        #expect(try Self.parts(channel) == ["head GET /a", "end"], "nothing after the error")
        try channel.writeInbound(ByteBuffer(string: "GET /c HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(try Self.parts(channel).isEmpty)
    }

    @Test func responsesAreChunkedOnlyWhenTheirHeadSaysSoAndHEADAnswersHaveNoBody() throws {
        let channel = try Self.server()
        try channel.writeInbound(ByteBuffer(string: "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"))
        _ = try Self.parts(channel)
        var chunked = HTTPHeaders()
        chunked.add(name: "transfer-encoding", value: "chunked")
        // The HEAD answer: its head says chunked, but no body and no last chunk may follow.
        try channel.writeOutbound(DownstreamResponsePart.head(.nio(HTTPResponseHead(version: .http1_1, status: .ok, headers: chunked))))
        try channel.writeOutbound(DownstreamResponsePart.end(nil))
        try channel.writeOutbound(DownstreamResponsePart.head(.nio(HTTPResponseHead(version: .http1_1, status: .ok, headers: chunked))))
        try channel.writeOutbound(DownstreamResponsePart.body(.byteBuffer(ByteBuffer(string: "hello"))))
        try channel.writeOutbound(DownstreamResponsePart.end(nil))
        var written = ""
        while let buffer = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let b) = buffer { written += String(buffer: b) }
        }
        #expect(written == "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                + "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    }

    @Test func pipeliningPausesPastThirtyTwoUnansweredRequestsAndResumesAsTheyAreAnswered() throws {
        let channel = try Self.server()
        let request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        try channel.writeInbound(ByteBuffer(string: String(repeating: request, count: 40)))
        #expect(try Self.parts(channel).filter { $0.hasPrefix("head") }.count == 32)
        for _ in 0..<8 {
            try channel.writeOutbound(DownstreamResponsePart.head(.nio(HTTPResponseHead(version: .http1_1, status: .noContent))))
            try channel.writeOutbound(DownstreamResponsePart.end(nil))
        }
        channel.embeddedEventLoop.run()
        #expect(try Self.parts(channel).filter { $0.hasPrefix("head") }.count == 8, "the held requests, once answers made room")
    }

    @Test func aClientPipeliningWithoutEndHasItsReadsHeldPastSixtyFourKiB() throws {
        let counter = ReadCounter()  // in front of the codec, where the socket is
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([counter, HTTP1ServerCodecHandler(maxHeadBytes: 8192)])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        let request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        let flood = String(repeating: request, count: HTTP1ServerCodecHandler.maxHeldBytes / request.utf8.count + 40)
        try channel.writeInbound(ByteBuffer(string: flood))
        let before = counter.count
        channel.read()
        #expect(counter.count == before, "a read went through while over 64 KiB waited behind 32 unanswered requests")
        // Answers make room: parsing resumes, what is held shrinks, and the read goes through.
        for _ in 0..<32 {
            try channel.writeOutbound(DownstreamResponsePart.head(.nio(HTTPResponseHead(version: .http1_1, status: .noContent))))
            try channel.writeOutbound(DownstreamResponsePart.end(nil))
        }
        channel.embeddedEventLoop.run()
        #expect(counter.count == before + 1)
    }

    @Test func bytesAfterAnUpgradeRequestAreHeldForTheTunnel() throws {
        let codec = HTTP1ServerCodecHandler(maxHeadBytes: 8192)
        let channel = EmbeddedChannel(handler: codec)
        try channel.writeInbound(ByteBuffer(string: "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nFRAME"))
        #expect(try Self.parts(channel) == ["head GET /ws", "end"])
        #expect(codec.takeHeldBytes().map { String(buffer: $0) } == "FRAME")
    }

    // MARK: - Client side

    static func client() throws -> (EmbeddedChannel, HTTP1ClientCodecHandler) {
        let codec = HTTP1ClientCodecHandler()
        let channel = EmbeddedChannel(handler: codec)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return (channel, codec)
    }

    static func send(_ channel: EmbeddedChannel, _ method: HTTPMethod) throws {
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "x")
        try channel.writeOutbound(UpstreamRequestPart.head(.nio(HTTPRequestHead(version: .http1_1, method: method, uri: "/", headers: headers))))
        try channel.writeOutbound(UpstreamRequestPart.end(nil))
    }

    static func responseParts(_ channel: EmbeddedChannel) throws -> [String] {
        var out: [String] = []
        while let part = try channel.readInbound(as: UpstreamResponsePart.self) {
            switch part {
            case .head(let head): out.append("head \(head.status.code)")
            case .body(let body): out.append("body \(String(buffer: body))")
            case .end: out.append("end")
            }
        }
        return out
    }

    @Test func interimHeadsThenTheResponse_andHEADAnswersHaveNoBody() throws {
        let (channel, _) = try Self.client()
        try Self.send(channel, .GET)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        #expect(try Self.responseParts(channel) == ["head 103", "head 200", "body ok", "end"])
        try Self.send(channel, .HEAD)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"))
        #expect(try Self.responseParts(channel) == ["head 200", "end"])
    }

    @Test func bytesNobodyAskedForAreAnError() throws {
        let (channel, _) = try Self.client()
        #expect(throws: HTTP1ParseError.self) { try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n")) }
        let (after, _) = try Self.client()
        try Self.send(after, .GET)
        #expect(throws: HTTP1ParseError.self) {
            try after.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n"))
        }
        #expect(try Self.responseParts(after) == ["head 200", "body ok", "end"], "the response itself went on; the extra bytes did not")
    }

    @Test func aBodyUntilTheCloseEndsAtTheClose_aCutOneIsAnError() throws {
        let (channel, _) = try Self.client()
        try Self.send(channel, .GET)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.0 200 OK\r\n\r\nall of it"))
        #expect(try Self.responseParts(channel) == ["head 200", "body all of it"])
        channel.pipeline.fireChannelInactive()
        #expect(try Self.responseParts(channel) == ["end"])

        let (cut, _) = try Self.client()
        try Self.send(cut, .GET)
        try cut.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))
        _ = try Self.responseParts(cut)
        cut.pipeline.fireChannelInactive()
        #expect(throws: HTTP1ParseError.self) { try cut.throwIfErrorCaught() }
    }

    @Test func aSwitchPassesHeadAndEndThenHoldsTheRest() throws {
        let (channel, codec) = try Self.client()
        try Self.send(channel, .GET)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nFRAME"))
        #expect(try Self.responseParts(channel) == ["head 101", "end"])
        #expect(codec.takeHeldBytes().map { String(buffer: $0) } == "FRAME")
    }
}
