import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import RouteModel

/// HTTP/2 on a terminated TLS connection: NIO's HTTP/2 handler with Pier's limits, and per stream NIO's
/// HTTP/2 → HTTP/1 codec in front of the same `HTTPProxyHandler` that serves HTTP/1.1, so that every request
/// is routed, limited and forwarded the same way whatever the client spoke.
enum HTTP2Downstream {
    /// Concurrent streams a client may open (nginx's default is 128).
    static let maxConcurrentStreams = 128

    /// Adds the HTTP/2 handlers to `channel`. Must run on the channel's event loop.
    static func configure(channel: Channel, tables: RouteTableBox, loop: LoopState, accessLogger: Logger, downstream: Downstream) throws {
        let settings = tables.current.settings
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: settings.maxHeaderSize),
            HTTP2Setting(parameter: .initialWindowSize, value: 65535),
        ]
        // Limits against abuse, set explicitly rather than inherited: at most 200 resets (rapid reset,
        // CVE-2023-44487), 200 stream errors and 200 control frames a client provokes per 30 s, and a bounded
        // queue of control frames it does not read.
        connection.maximumBufferedControlFrames = 1000
        connection.controlFrameRateLimit.maximumCount = 200
        connection.controlFrameRateLimit.windowLength = .seconds(30)
        connection.maximumSequentialContinuationFrames = 5
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.streamResetFrameRateLimit.maximumCount = 200
        stream.streamResetFrameRateLimit.windowLength = .seconds(30)
        stream.streamErrorRateLimit.maximumCount = 200
        stream.streamErrorRateLimit.windowLength = .seconds(30)
        let idle = HTTP2IdleTimer(channel: channel, timeout: TimeAmount(settings.keepaliveTimeout))
        var perStream = downstream
        perStream.multiplexed = true
        perStream.clientIP = channel.remoteAddress?.ipAddress
        if perStream.port == nil { perStream.port = channel.localAddress?.port }
        let streamDownstream = perStream
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: stream, streamDelegate: idle
        ) { streamChannel in
            streamChannel.eventLoop.makeCompletedFuture {
                try streamChannel.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try streamChannel.pipeline.syncOperations.addHandler(
                    HTTPProxyHandler(tables: tables, loop: loop, accessLogger: accessLogger, downstream: streamDownstream))
            }
        }
        idle.start()
    }
}

/// Closes an HTTP/2 connection that has had no open stream for the keep-alive timeout.
///
/// One timer per connection, re-armed only when it fires: streams opening and closing cost a counter and a
/// clock read, not a scheduled task each. Called by NIO's HTTP/2 handler on the connection's event loop
/// only, which is what makes the unchecked Sendable conformance safe.
final class HTTP2IdleTimer: NIOHTTP2StreamDelegate, @unchecked Sendable {
    private let channel: Channel
    private let timeout: TimeAmount
    private var openStreams = 0
    private var idleSince = NIODeadline.now()

    init(channel: Channel, timeout: TimeAmount) {
        self.channel = channel
        self.timeout = timeout
    }

    func start() { schedule(at: idleSince + timeout) }

    func streamCreated(_ id: HTTP2StreamID, channel: Channel) {
        openStreams += 1
    }

    func streamClosed(_ id: HTTP2StreamID, channel: Channel) {
        openStreams -= 1
        if openStreams == 0 { idleSince = .now() }
    }

    private func schedule(at deadline: NIODeadline) {
        channel.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            guard channel.isActive else { return }
            if openStreams == 0, NIODeadline.now() - idleSince >= timeout {
                channel.close(promise: nil)
            } else {
                schedule(at: (openStreams == 0 ? idleSince : .now()) + timeout)
            }
        }
    }
}
