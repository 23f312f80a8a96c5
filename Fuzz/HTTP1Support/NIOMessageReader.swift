import NIOCore
import NIOEmbedded
import NIOHTTP1

/// NIO's side of a differential target: the same pieces through NIO's llhttp-based decoder
/// (`ByteToMessageHandler(HTTPRequestDecoder())`, or `HTTPResponseDecoder` after a request head went out) on
/// an `EmbeddedChannel`, and what it made of the first message. Errors after that message's end (in a
/// pipelined one) do not count.
public enum NIOMessageReader {
    /// What reached the end of the pipeline, in the shared terms.
    enum Event {
        /// `interim`: a 1xx head other than 101, which no end follows.
        case head(DecodedHead, interim: Bool, upgrade: Bool)
        case body(ByteBuffer)
        case end(HTTPHeaders?)
        case error(any Error)
    }

    /// Records the parts (translated by `translate`) and errors that reach the end of the pipeline, in order.
    final class Recorder<Part>: ChannelInboundHandler {
        typealias InboundIn = Part
        let translate: (Part) -> Event
        var events: [Event] = []

        init(_ translate: @escaping (Part) -> Event) {
            self.translate = translate
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            events.append(translate(unwrapInboundIn(data)))
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            events.append(.error(error))
        }
    }

    public static func readRequest(_ pieces: [[UInt8]]) -> DecodeOutcome {
        let recorder = Recorder<HTTPServerRequestPart> { part in
            switch part {
            case .head(let head):
                let decoded = DecodedHead(start: [head.method.rawValue, head.uri], version: "\(head.version)", fields: fields(head.headers))
                return .head(decoded, interim: false, upgrade: false)
            case .body(let body): return .body(body)
            case .end(let trailers): return .end(trailers)
            }
        }
        return read(pieces, [ByteToMessageHandler(HTTPRequestDecoder()), recorder], close: false) { recorder.events }
    }

    /// A response to a GET (or HEAD) request; interim heads are forwarded (as Pier's client codec does) and
    /// collected; the channel closes after the last piece when `close`.
    public static func readResponse(_ pieces: [[UInt8]], toHEAD: Bool, close: Bool) -> DecodeOutcome {
        let recorder = Recorder<HTTPClientResponsePart> { part in
            switch part {
            case .head(let head):
                let code = head.status.code
                let decoded = DecodedHead(start: [String(code)], version: "\(head.version)", fields: fields(head.headers))
                return .head(decoded, interim: code < 200 && code != 101, upgrade: code == 101)
            case .body(let body): return .body(body)
            case .end(let trailers): return .end(trailers)
            }
        }
        let decoder = HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)
        let request = HTTPRequestHead(version: .http1_1, method: toHEAD ? .HEAD : .GET, uri: "/", headers: ["Host": "a"])
        return read(pieces, [HTTPRequestEncoder(), ByteToMessageHandler(decoder), recorder], close: close, request: request) { recorder.events }
    }

    /// Feeds the pieces (after `request` went out) and reads the first message from the events.
    private static func read(_ pieces: [[UInt8]], _ handlers: [any ChannelHandler], close: Bool, request: HTTPRequestHead? = nil,
                             events: () -> [Event]) -> DecodeOutcome {
        let channel = EmbeddedChannel()
        try! channel.pipeline.syncOperations.addHandlers(handlers)
        // Connected, so that closing it delivers channelInactive (the EOF a close-delimited body waits for).
        try! channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        if let request {
            try! channel.writeOutbound(HTTPClientRequestPart.head(request))
            try! channel.writeOutbound(HTTPClientRequestPart.end(nil))
        }
        for piece in pieces {
            // Decoding errors go to the recorder, not to the caller.
            try! channel.writeInbound(channel.allocator.buffer(bytes: piece))
        }
        if close {
            channel.close(promise: nil)
            channel.embeddedEventLoop.run()
        }
        let outcome = firstMessage(events())
        // An open channel keeps its pipeline (a reference cycle) alive: close it, whatever the EOF does now.
        if !close {
            channel.close(promise: nil)
            channel.embeddedEventLoop.run()
        }
        return outcome
    }

    private static func firstMessage(_ events: [Event]) -> DecodeOutcome {
        var interim: [DecodedHead] = []
        var message: DecodedMessage?
        for event in events {
            switch event {
            case .error(let error):
                return .refused("\(error)")
            case .head(let head, interim: true, _):
                interim.append(head)
            case .head(let head, interim: false, let upgrade):
                message = DecodedMessage(head: head)
                message!.interim = interim
                message!.upgrade = upgrade
            case .body(let body):
                message!.body += Array(body.readableBytesView)
            case .end(let trailers):
                message!.trailers = trailers.map(fields) ?? []
                return .complete(message!)
            }
        }
        return .incomplete
    }

    /// Allowed difference: llhttp leaves the whitespace that ends a field value in the value, where RFC 9112
    /// §5 (and Pier) take it out (`X: v \t` is `v`). Leading whitespace both leave out.
    private static func fields(_ headers: HTTPHeaders) -> [DecodedField] {
        headers.map { field in
            var value = Substring(field.value)
            while let last = value.utf8.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            return DecodedField(name: field.name, value: String(value))
        }
    }
}
