import NIOConcurrencyHelpers
import NIOCore
import NIOHPACK

/// An HTTP/2 client over TLS that writes bytes, not frames through a state machine: unlike `HTTP2FrameClient`
/// (NIO's client handler, which refuses to send what a well-behaved client would not), it can send HEADERS on
/// a stream it ended or reset, open more streams than allowed, overflow windows and flood — what h2spec and an
/// attacker do. What the server sends is cut into `RawFrame`s and kept in order, with the time of each and of
/// the close. Header blocks it sends go through one `HPACKEncoder` per connection, so they must be sent in the
/// order they were built (the server's dynamic table follows the encoder's).
final class RawHTTP2Client: Sendable {
    let channel: Channel
    let authority: String
    private let received: NIOLockedValueBox<RawFrameReader.Received>
    private let encoder = NIOLockedValueBox(HPACKEncoder(allocator: ByteBufferAllocator()))

    private init(channel: Channel, authority: String, received: NIOLockedValueBox<RawFrameReader.Received>) {
        self.channel = channel
        self.authority = authority
        self.received = received
    }

    /// Connects to 127.0.0.1:`port` with SNI `serverName`, trusting only `caPath`, offering only h2. With
    /// `replenish` the client gives back the window of every DATA frame it receives (a WINDOW_UPDATE on the
    /// stream and one on the connection per frame), as a client downloading at full speed may.
    static func connect(port: Int, serverName: String, caPath: String, replenish: Bool = false) async throws -> RawHTTP2Client {
        let received = NIOLockedValueBox(RawFrameReader.Received())
        let channel = try await connectTLS(port: port, serverName: serverName, caPath: caPath, alpn: ["h2"]) { pipeline in
            try pipeline.addHandler(RawFrameReader(received: received, replenish: replenish))
        }
        return RawHTTP2Client(channel: channel, authority: serverName, received: received)
    }

    /// Sends the preface and SETTINGS (`settings`), waits for the server's SETTINGS, acknowledges them and
    /// waits for the server's acknowledgement of ours. Throws if either does not come within 5 s.
    func handshake(settings: [(UInt16, UInt32)] = []) async throws {
        try await send([ByteBuffer(string: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Self.settings(settings)])
        guard try await wait(timeout: .seconds(5), until: { self.serverSettings != nil }) else {
            throw TestFailure("no SETTINGS from the server: \(summary)")
        }
        try await send([Self.settingsAck()])
        guard try await wait(timeout: .seconds(5), until: { self.settingsAcks >= 1 }) else {
            throw TestFailure("the server did not acknowledge SETTINGS: \(summary)")
        }
    }

    // MARK: Sending

    /// Writes `frames` and flushes once; throws if the write fails or has not completed within `timeout` (a
    /// server that stops reading must not hang the test).
    func send(_ frames: [ByteBuffer], timeout: Duration = .seconds(5)) async throws {
        for frame in frames.dropLast() { channel.write(frame, promise: nil) }
        guard let last = frames.last else { return }
        let done = channel.eventLoop.makePromise(of: Void.self)
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            done.fail(TestFailure("write not completed within \(timeout)"))
        }
        channel.writeAndFlush(last).whenComplete { result in
            deadline.cancel()
            done.completeWith(result)
        }
        try await done.futureResult.get()
    }

    /// Sends `frame` `count` times, packed into buffers of about `bufferSize` bytes, one write each. Stops
    /// quietly when a write fails: the server closing on a flood is what such tests expect.
    func flood(_ frame: ByteBuffer, count: Int, bufferSize: Int = 64 * 1024) async {
        let perBuffer = max(1, bufferSize / frame.readableBytes)
        var left = count
        while left > 0, !closed {
            var buffer = channel.allocator.buffer(capacity: perBuffer * frame.readableBytes)
            for _ in 0..<min(perBuffer, left) { buffer.writeImmutableBuffer(frame) }
            left -= min(perBuffer, left)
            do { try await send([buffer]) } catch { return }
        }
    }

    /// A request's header block (`:method`, `:scheme`, `:authority`, `:path`, then `extra`), HPACK-encoded with
    /// the connection's encoder.
    func requestBlock(_ path: String, method: String = "GET", extra: [(String, String)] = []) throws -> ByteBuffer {
        let headers = HPACKHeaders([(":method", method), (":scheme", "https"), (":authority", authority), (":path", path)] + extra)
        var block = channel.allocator.buffer(capacity: 64)
        try encoder.withLockedValue { try $0.encode(headers: headers, to: &block) }
        return block
    }

    /// A request on `stream` as one HEADERS frame (END_STREAM unless `endStream` is false).
    func request(_ stream: UInt32, _ path: String, method: String = "GET", endStream: Bool = true) throws -> ByteBuffer {
        Self.headers(stream: stream, endStream: endStream, block: try requestBlock(path, method: method))
    }

    // MARK: Frame builders (RFC 9113 §6)

    static func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32, payload: ByteBuffer = ByteBuffer()) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(9 + payload.readableBytes)
        buffer.writeInteger(UInt32(payload.readableBytes) << 8 | UInt32(type))
        buffer.writeInteger(flags)
        buffer.writeInteger(stream & 0x7FFF_FFFF)
        buffer.writeImmutableBuffer(payload)
        return buffer
    }

    static func headers(stream: UInt32, endStream: Bool, endHeaders: Bool = true, block: ByteBuffer) -> ByteBuffer {
        frame(type: RawFrame.headers, flags: (endStream ? 0x1 : 0) | (endHeaders ? 0x4 : 0), stream: stream, payload: block)
    }

    static func continuation(stream: UInt32, endHeaders: Bool, block: ByteBuffer) -> ByteBuffer {
        frame(type: RawFrame.continuation, flags: endHeaders ? 0x4 : 0, stream: stream, payload: block)
    }

    /// DATA with `bytes` bytes of body; with `padding`, PADDED and that many padding bytes.
    static func data(stream: UInt32, bytes: Int, endStream: Bool = false, padding: UInt8? = nil) -> ByteBuffer {
        var payload = ByteBuffer()
        if let padding { payload.writeInteger(padding) }
        payload.writeRepeatingByte(UInt8(ascii: "x"), count: bytes)
        if let padding { payload.writeRepeatingByte(0, count: Int(padding)) }
        return frame(type: RawFrame.data, flags: (endStream ? 0x1 : 0) | (padding != nil ? 0x8 : 0), stream: stream, payload: payload)
    }

    static func rst(stream: UInt32, code: UInt32) -> ByteBuffer {
        frame(type: RawFrame.rstStream, stream: stream, payload: ByteBuffer(integer: code))
    }

    static func windowUpdate(stream: UInt32, increment: UInt32) -> ByteBuffer {
        frame(type: RawFrame.windowUpdate, stream: stream, payload: ByteBuffer(integer: increment))
    }

    static func settings(_ parameters: [(UInt16, UInt32)]) -> ByteBuffer {
        var payload = ByteBuffer()
        for (identifier, value) in parameters {
            payload.writeInteger(identifier)
            payload.writeInteger(value)
        }
        return frame(type: RawFrame.settings, stream: 0, payload: payload)
    }

    static func settingsAck() -> ByteBuffer {
        frame(type: RawFrame.settings, flags: 0x1, stream: 0)
    }

    static func ping(ack: Bool = false, data: UInt64 = 0) -> ByteBuffer {
        frame(type: RawFrame.ping, flags: ack ? 0x1 : 0, stream: 0, payload: ByteBuffer(integer: data))
    }

    static func priority(stream: UInt32, dependsOn: UInt32 = 0, weight: UInt8 = 15) -> ByteBuffer {
        var payload = ByteBuffer(integer: dependsOn)
        payload.writeInteger(weight)
        return frame(type: RawFrame.priority, stream: stream, payload: payload)
    }

    static func goAway(last: UInt32, code: UInt32) -> ByteBuffer {
        var payload = ByteBuffer(integer: last)
        payload.writeInteger(code)
        return frame(type: RawFrame.goAway, stream: 0, payload: payload)
    }

    /// A frame of a type RFC 9113 does not define (receivers must ignore it), with `length` zero bytes.
    static func unknown(type: UInt8 = 0xFF, stream: UInt32 = 0, length: Int = 0) -> ByteBuffer {
        frame(type: type, stream: stream, payload: ByteBuffer(repeating: 0, count: length))
    }

    // MARK: What the server sent

    /// Every frame received so far, in order.
    var frames: [RawFrame] { received.withLockedValue { $0.frames } }
    /// Whether the server has closed the connection.
    var closed: Bool { received.withLockedValue { $0.closedAt != nil } }
    /// When the connection closed.
    var closedAt: ContinuousClock.Instant? { received.withLockedValue { $0.closedAt } }

    /// The parameters of the server's first SETTINGS frame, by identifier.
    var serverSettings: [UInt16: UInt32]? {
        frames.first { $0.type == RawFrame.settings && $0.flags & 0x1 == 0 }.map { frame in
            var payload = frame.payload, parameters: [UInt16: UInt32] = [:]
            while let (identifier, value) = payload.readMultipleIntegers(as: (UInt16, UInt32).self) { parameters[identifier] = value }
            return parameters
        }
    }

    /// SETTINGS acknowledgements received.
    var settingsAcks: Int { frames.count(where: { $0.type == RawFrame.settings && $0.flags & 0x1 != 0 }) }
    /// PING acknowledgements received.
    var pingAcks: Int { frames.count(where: { $0.type == RawFrame.ping && $0.flags & 0x1 != 0 }) }

    /// The first GOAWAY received: its last-stream-id and error code.
    var goAway: (lastStreamID: UInt32, errorCode: UInt32)? {
        frames.first { $0.type == RawFrame.goAway }.flatMap { $0.payload.getMultipleIntegers(at: $0.payload.readerIndex, as: (UInt32, UInt32).self) }
            .map { ($0.0 & 0x7FFF_FFFF, $0.1) }
    }

    /// The error code of the RST_STREAM received for `stream`, if any.
    func rst(of stream: UInt32) -> UInt32? {
        frames.first { $0.type == RawFrame.rstStream && $0.stream == stream }.flatMap { $0.payload.getInteger(at: $0.payload.readerIndex) }
    }

    /// The `:status` of the response head received on `stream`, if any.
    func status(of stream: UInt32) -> String? {
        frames.first { $0.stream == stream && $0.headers?.first(name: ":status") != nil }?.headers?.first(name: ":status")
    }

    /// Whether the response on `stream` has ended (a HEADERS or DATA frame with END_STREAM).
    func ended(_ stream: UInt32) -> Bool {
        frames.contains { $0.stream == stream && $0.endStream }
    }

    /// Body bytes received on `stream` (padding excluded).
    func bodyBytes(of stream: UInt32) -> Int {
        frames.reduce(0) { $0 + ($1.type == RawFrame.data && $1.stream == stream ? $1.bodyLength : 0) }
    }

    /// The last frames received and whether the connection closed, for failure messages.
    var summary: String {
        let (frames, closedAt) = received.withLockedValue { ($0.frames, $0.closedAt) }
        return "\(frames.suffix(6).map(\.description).joined(separator: ", ")); \(closedAt == nil ? "open" : "closed")"
    }

    /// Waits until `condition` holds; false if it has not within `timeout`.
    func wait(timeout: Duration = .seconds(10), until condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    func close() async {
        try? await channel.close()
    }
}

/// One frame as the server sent it; a HEADERS frame followed by CONTINUATION frames is one HEADERS frame here
/// (with END_HEADERS), its header block decoded.
struct RawFrame: Sendable, CustomStringConvertible {
    static let data: UInt8 = 0x0, headers: UInt8 = 0x1, priority: UInt8 = 0x2, rstStream: UInt8 = 0x3, settings: UInt8 = 0x4
    static let pushPromise: UInt8 = 0x5, ping: UInt8 = 0x6, goAway: UInt8 = 0x7, windowUpdate: UInt8 = 0x8, continuation: UInt8 = 0x9

    let type: UInt8
    let flags: UInt8
    let stream: UInt32
    /// The payload as received (for HEADERS: of the first frame only).
    let payload: ByteBuffer
    /// The decoded header block of a HEADERS frame (nil if it did not decode).
    let headers: HPACKHeaders?
    let at: ContinuousClock.Instant

    var endStream: Bool { (type == Self.data || type == Self.headers) && flags & 0x1 != 0 }

    /// A DATA frame's body length: its payload less the pad length byte and padding.
    var bodyLength: Int {
        guard flags & 0x8 != 0, let pad = payload.getInteger(at: payload.readerIndex, as: UInt8.self) else { return payload.readableBytes }
        return payload.readableBytes - 1 - Int(pad)
    }

    var description: String {
        let names = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]
        var text = "\(type < names.count ? names[Int(type)] : "type 0x\(String(type, radix: 16))")(\(stream))"
        let ints = payload.getMultipleIntegers(at: payload.readerIndex, as: (UInt32, UInt32).self)
        switch type {
        case Self.goAway: if let ints { text += " last=\(ints.0 & 0x7FFF_FFFF) code=0x\(String(ints.1, radix: 16))" }
        case Self.rstStream, Self.windowUpdate: if let v = payload.getInteger(at: payload.readerIndex, as: UInt32.self) { text += " \(v)" }
        case Self.headers: text += " :status=\(headers?.first(name: ":status") ?? "?")"
        case Self.data: text += " \(bodyLength) bytes"
        default: if flags & 0x1 != 0, type == Self.settings || type == Self.ping { text += " ACK" }
        }
        return endStream ? text + " END_STREAM" : text
    }
}

/// Cuts the bytes a server sends into frames by their 9-byte headers (RFC 9113 §4.1), joins HEADERS and
/// CONTINUATION until END_HEADERS and decodes the block with one `HPACKDecoder` (the server's dynamic table is
/// per connection), and records the frames and the close. On the client channel's event loop.
final class RawFrameReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Received: Sendable {
        var frames: [RawFrame] = []
        var closedAt: ContinuousClock.Instant?
    }

    private let received: NIOLockedValueBox<Received>
    private let replenish: Bool
    private var bytes = ByteBuffer()
    private var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
    private var pendingHeaders: (flags: UInt8, stream: UInt32, first: ByteBuffer, block: ByteBuffer)?
    /// Streams and sizes of the DATA frames of this read, whose window is given back at the read's end.
    private var windowToReturn: [(stream: UInt32, increment: UInt32)] = []

    init(received: NIOLockedValueBox<Received>, replenish: Bool) {
        self.received = received
        self.replenish = replenish
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        bytes.writeBuffer(&input)
        while let (lengthAndType, flags, stream) = bytes.getMultipleIntegers(at: bytes.readerIndex, as: (UInt32, UInt8, UInt32).self),
              bytes.readableBytes >= 9 + Int(lengthAndType >> 8) {
            bytes.moveReaderIndex(forwardBy: 9)
            let payload = bytes.readSlice(length: Int(lengthAndType >> 8))!
            handle(type: UInt8(lengthAndType & 0xFF), flags: flags, stream: stream & 0x7FFF_FFFF, payload: payload)
        }
        bytes.discardReadBytes()
    }

    private func handle(type: UInt8, flags: UInt8, stream: UInt32, payload: ByteBuffer) {
        switch type {
        case RawFrame.headers:
            pendingHeaders = (flags, stream, payload, Self.headerBlock(of: payload, flags: flags))
        case RawFrame.continuation where pendingHeaders != nil:
            var block = payload
            pendingHeaders!.block.writeBuffer(&block)
            pendingHeaders!.flags |= flags & 0x4
        default:
            record(RawFrame(type: type, flags: flags, stream: stream, payload: payload, headers: nil, at: .now))
        }
        if replenish, type == RawFrame.data, !payload.readableBytesView.isEmpty {
            windowToReturn.append((stream, UInt32(payload.readableBytes)))
        }
        if let pending = pendingHeaders, pending.flags & 0x4 != 0 {
            pendingHeaders = nil
            var block = pending.block
            let headers = try? decoder.decodeHeaders(from: &block)
            record(RawFrame(type: RawFrame.headers, flags: pending.flags, stream: pending.stream, payload: pending.first, headers: headers, at: .now))
        }
    }

    /// A HEADERS payload without its pad length, priority fields and padding.
    private static func headerBlock(of payload: ByteBuffer, flags: UInt8) -> ByteBuffer {
        var block = payload
        var padding = 0
        if flags & 0x8 != 0, let pad = block.readInteger(as: UInt8.self) { padding = Int(pad) }
        if flags & 0x20 != 0 { block.moveReaderIndex(forwardBy: min(5, block.readableBytes)) }
        return block.readSlice(length: max(0, block.readableBytes - padding)) ?? ByteBuffer()
    }

    private func record(_ frame: RawFrame) {
        received.withLockedValue { $0.frames.append(frame) }
    }

    /// Two WINDOW_UPDATEs per DATA frame of this read (the stream's, the connection's), in one flush.
    func channelReadComplete(context: ChannelHandlerContext) {
        if !windowToReturn.isEmpty {
            for (stream, increment) in windowToReturn {
                context.write(wrapOutboundOut(RawHTTP2Client.windowUpdate(stream: stream, increment: increment)), promise: nil)
                context.write(wrapOutboundOut(RawHTTP2Client.windowUpdate(stream: 0, increment: increment)), promise: nil)
            }
            windowToReturn = []
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        received.withLockedValue { $0.closedAt = .now }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A TLS error (the server closing without close_notify, say) ends the connection; the frames say why.
        context.close(promise: nil)
    }
}
