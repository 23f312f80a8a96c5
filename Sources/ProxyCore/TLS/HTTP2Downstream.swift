import Logging
import NIOCore
import NIOHPACK
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
        // NIO's connection manager: closes a connection idle (no open stream) for the keep-alive timeout, and
        // on graceful shutdown sends GOAWAY and closes once the open streams are done.
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(maxIdleTime: TimeAmount(settings.keepaliveTimeout), maxAge: nil, maxGraceTime: nil, keepalive: nil))
        var perStream = downstream
        perStream.multiplexed = true
        perStream.clientIP = channel.remoteAddress?.ipAddress
        if perStream.port == nil { perStream.port = channel.localAddress?.port }
        let streamDownstream = perStream
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: stream, streamDelegate: manager.http2StreamDelegate
        ) { streamChannel in
            streamChannel.eventLoop.makeCompletedFuture {
                try streamChannel.pipeline.syncOperations.addHandler(HPACKIndexingHandler())
                try streamChannel.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try streamChannel.pipeline.syncOperations.addHandler(
                    HTTPProxyHandler(tables: tables, loop: loop, accessLogger: accessLogger, downstream: streamDownstream))
            }
        }
        try channel.pipeline.syncOperations.addHandler(manager)
    }
}

/// Tells HPACK which response header values not to enter into the connection's dynamic table: values that
/// change with every response (`date`, `x-request-id`, `x-upstream-response-time`) would only evict useful
/// entries and make every later lookup scan a table of dead ones (the encoder searches it linearly for each
/// header: 2–3 µs per response in a profile); `set-cookie` is never indexed (RFC 7541 §7.1.3: secrets must not
/// be guessable through compression). NIO's HTTP/2 → HTTP/1 codec marks every header indexable; this handler
/// sits between it and the stream.
final class HPACKIndexingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .headers(var headers) = unwrapOutboundIn(data) else {
            return context.write(data, promise: promise)
        }
        headers.headers = Self.withIndexing(headers.headers)
        context.write(wrapOutboundOut(.headers(headers)), promise: promise)
    }

    /// The indexing for a header `name` (lower case on HTTP/2), or nil to keep NIO's. By length first: most
    /// names are compared with nothing.
    @inline(__always)
    static func policy(_ name: String) -> HPACKIndexing? {
        switch name.utf8.count {
        case 4: return name == "date" ? .nonIndexable : nil
        case 10: return name == "set-cookie" ? .neverIndexed : nil
        case 12: return name == "x-request-id" ? .nonIndexable : nil
        case 24: return name == "x-upstream-response-time" ? .nonIndexable : nil
        default: return nil
        }
    }

    /// `headers` with the indexing above.
    static func withIndexing(_ headers: HPACKHeaders) -> HPACKHeaders {
        var out = HPACKHeaders()
        out.reserveCapacity(headers.count)
        for (name, value, indexing) in headers {
            out.add(name: name, value: value, indexing: policy(name) ?? indexing)
        }
        return out
    }
}
