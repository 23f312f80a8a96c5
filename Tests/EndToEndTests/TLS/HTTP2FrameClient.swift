import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK
import NIOHTTP2

/// An HTTP/2 client over TLS that works in frames, for tests of what a server does with a client that
/// misbehaves: NIO's HTTP/2 handler in client mode, with no stream multiplexer, so the test writes whatever
/// frames it likes (and resets streams at will) and sees every frame the server sends, in order.
final class HTTP2FrameClient: Sendable {
    let channel: Channel
    private let received: NIOLockedValueBox<(frames: [HTTP2Frame], closed: Bool)>

    private init(channel: Channel, received: NIOLockedValueBox<(frames: [HTTP2Frame], closed: Bool)>) {
        self.channel = channel
        self.received = received
    }

    /// Connects to 127.0.0.1:`port` with SNI `serverName`, trusting only `caPath`, offering only h2; without
    /// `validateHeaders` it sends header blocks NIO would refuse to.
    static func connect(port: Int, serverName: String, caPath: String, validateHeaders: Bool = true) async throws -> HTTP2FrameClient {
        let received = NIOLockedValueBox<(frames: [HTTP2Frame], closed: Bool)>(([], false))
        let channel = try await connectTLS(port: port, serverName: serverName, caPath: caPath, alpn: ["h2"]) { pipeline in
            // The client's own DoS limits off: this client is the one that misbehaves.
            var connection = NIOHTTP2Handler.ConnectionConfiguration()
            connection.maximumConnectionGlitches = 1_000_000
            if !validateHeaders { connection.headerBlockValidation = .disabled }
            try pipeline.addHandler(NIOHTTP2Handler(mode: .client, connectionConfiguration: connection))
            try pipeline.addHandler(Collector(received: received))
        }
        return HTTP2FrameClient(channel: channel, received: received)
    }

    /// A whole bodiless request (GET unless said) for `path` on `authority` as stream `stream`, with `extra`
    /// headers after the pseudo-headers: one HEADERS frame with END_STREAM.
    static func get(_ stream: Int, _ authority: String, _ path: String, method: String = "GET", extra: [(String, String)] = []) -> HTTP2Frame {
        let head = HPACKHeaders([(":method", method), (":scheme", "https"), (":authority", authority), (":path", path)] + extra)
        return HTTP2Frame(streamID: HTTP2StreamID(stream), payload: .headers(.init(headers: head, endStream: true)))
    }

    /// Writes `frames` and flushes once.
    func send(_ frames: [HTTP2Frame]) async throws {
        for frame in frames.dropLast() { channel.write(frame, promise: nil) }
        if let last = frames.last { try await channel.writeAndFlush(last) }
    }

    /// Every frame received so far.
    var frames: [HTTP2Frame] { received.withLockedValue { $0.frames } }
    /// Whether the server has closed the connection.
    var closed: Bool { received.withLockedValue { $0.closed } }

    /// Waits until `condition` holds of the frames received and whether the connection has closed; false if
    /// it has not within `timeout`.
    func wait(timeout: Duration = .seconds(10), until condition: ([HTTP2Frame], Bool) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (frames, closed) = received.withLockedValue { ($0.frames, $0.closed) }
            if condition(frames, closed) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        let (frames, closed) = received.withLockedValue { ($0.frames, $0.closed) }
        return condition(frames, closed)
    }

    /// The GOAWAY received, if any: its error code and last stream.
    var goAway: (code: HTTP2ErrorCode, lastStream: HTTP2StreamID)? {
        for frame in frames {
            if case .goAway(let last, let code, _) = frame.payload { return (code, last) }
        }
        return nil
    }

    /// The `:status` of the response head received on `stream`, if any.
    func status(of stream: HTTP2StreamID) -> String? {
        for frame in frames where frame.streamID == stream {
            if case .headers(let headers) = frame.payload, let status = headers.headers.first(name: ":status") { return status }
        }
        return nil
    }

    /// Whether the response on `stream` has ended (a frame with END_STREAM).
    func ended(_ stream: HTTP2StreamID) -> Bool {
        frames.contains { frame in
            guard frame.streamID == stream else { return false }
            switch frame.payload {
            case .headers(let headers): return headers.endStream
            case .data(let data): return data.endStream
            default: return false
            }
        }
    }

    /// The DATA received on `stream` so far, as text.
    func body(of stream: HTTP2StreamID) -> String {
        var text = ""
        for frame in frames where frame.streamID == stream {
            if case .data(let data) = frame.payload, case .byteBuffer(let bytes) = data.data { text += String(buffer: bytes) }
        }
        return text
    }

    /// The RST_STREAM error code received for `stream`, if any.
    func reset(of stream: HTTP2StreamID) -> HTTP2ErrorCode? {
        for frame in frames where frame.streamID == stream {
            if case .rstStream(let code) = frame.payload { return code }
        }
        return nil
    }

    func close() async {
        try? await channel.close()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame
        let received: NIOLockedValueBox<(frames: [HTTP2Frame], closed: Bool)>

        init(received: NIOLockedValueBox<(frames: [HTTP2Frame], closed: Bool)>) {
            self.received = received
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            received.withLockedValue { $0.frames.append(frame) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            received.withLockedValue { $0.closed = true }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            // A connection error the server caused ends the connection; the frames tell the test why.
            context.close(promise: nil)
        }
    }
}
