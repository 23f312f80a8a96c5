import Foundation
import NIOCore

/// One message of the control channel. Each travels as a frame: 1 byte kind, 4 bytes big-endian length, the
/// payload (JSON, except a snapshot's, which is its version, a line feed, and the canonical snapshot bytes
/// exactly as hashed).
public enum ControlMessage: Equatable, Sendable {
    /// Proxy → controller, first: who it is and which version it already has.
    case hello(Hello)
    /// Controller → proxy: who answers.
    case welcome(Welcome)
    /// Controller → proxy: a whole snapshot; `version` is the hash of `payload`.
    case snapshot(version: String, payload: Data)
    /// Controller → proxy: the version the proxy has is current.
    case unchanged(version: String)
    /// Proxy → controller: `version` applied.
    case ack(version: String, issues: Int)
    /// Proxy → controller: `version` refused; the last good table stays.
    case nack(version: String, reason: String)
    /// Both ways: still here; the version last sent or applied.
    case heartbeat(version: String?)
    /// Controller → proxy: the controller is stopping; go to another one now.
    case goodbye(reason: String)

    public struct Hello: Codable, Equatable, Sendable {
        public var `protocol`: Int
        public var name: String
        public var node: String
        public var pier: String
        public var have: String?

        public init(protocol: Int = ControlMessage.protocolVersion, name: String, node: String, pier: String, have: String?) {
            self.protocol = `protocol`
            self.name = name
            self.node = node
            self.pier = pier
            self.have = have
        }
    }

    public struct Welcome: Codable, Equatable, Sendable {
        public var controller: String
        public var node: String
        public var pier: String

        public init(controller: String, node: String, pier: String) {
            self.controller = controller
            self.node = node
            self.pier = pier
        }
    }

    /// The channel protocol this build speaks.
    public static let protocolVersion = 1

    var kind: UInt8 {
        switch self {
        case .hello: 1
        case .welcome: 2
        case .snapshot: 3
        case .unchanged: 4
        case .ack: 5
        case .nack: 6
        case .heartbeat: 7
        case .goodbye: 8
        }
    }

    private struct VersionBody: Codable { var version: String }
    private struct AckBody: Codable { var version: String; var issues: Int }
    private struct NackBody: Codable { var version: String; var reason: String }
    private struct HeartbeatBody: Codable { var version: String? }
    private struct GoodbyeBody: Codable { var reason: String }

    /// The frame for this message, appended to `buffer`.
    public func write(to buffer: inout ByteBuffer) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let payload: Data
        switch self {
        case .hello(let hello): payload = try! encoder.encode(hello)
        case .welcome(let welcome): payload = try! encoder.encode(welcome)
        case .snapshot(let version, let body): payload = Data(version.utf8) + Data([0x0A]) + body
        case .unchanged(let version): payload = try! encoder.encode(VersionBody(version: version))
        case .ack(let version, let issues): payload = try! encoder.encode(AckBody(version: version, issues: issues))
        case .nack(let version, let reason): payload = try! encoder.encode(NackBody(version: version, reason: reason))
        case .heartbeat(let version): payload = try! encoder.encode(HeartbeatBody(version: version))
        case .goodbye(let reason): payload = try! encoder.encode(GoodbyeBody(reason: reason))
        }
        buffer.writeInteger(kind)
        buffer.writeInteger(UInt32(payload.count))
        buffer.writeBytes(payload)
    }

    /// Decodes the payload of a frame of `kind`.
    static func decode(kind: UInt8, payload: ByteBuffer) throws -> ControlMessage {
        let bytes = Data(payload.readableBytesView)
        let decoder = JSONDecoder()
        func body<T: Decodable>(_ type: T.Type) throws -> T {
            do { return try decoder.decode(type, from: bytes) } catch {
                throw ControlFrameError.malformed("message \(kind) does not decode: \(error)")
            }
        }
        switch kind {
        case 1: return .hello(try body(Hello.self))
        case 2: return .welcome(try body(Welcome.self))
        case 3:
            guard let newline = bytes.firstIndex(of: 0x0A), newline - bytes.startIndex <= 64,
                  let version = String(data: bytes[bytes.startIndex..<newline], encoding: .utf8)
            else { throw ControlFrameError.malformed("snapshot without a version line") }
            return .snapshot(version: version, payload: Data(bytes[(newline + 1)...]))
        case 4: return .unchanged(version: try body(VersionBody.self).version)
        case 5:
            let ack = try body(AckBody.self)
            return .ack(version: ack.version, issues: ack.issues)
        case 6:
            let nack = try body(NackBody.self)
            return .nack(version: nack.version, reason: nack.reason)
        case 7: return .heartbeat(version: try body(HeartbeatBody.self).version)
        case 8: return .goodbye(reason: try body(GoodbyeBody.self).reason)
        default: throw ControlFrameError.malformed("unknown message kind \(kind)")
        }
    }
}

/// What is wrong with the bytes of the channel.
public enum ControlFrameError: Error, Equatable, CustomStringConvertible {
    case tooLarge(length: Int, limit: Int)
    case malformed(String)

    public var description: String {
        switch self {
        case .tooLarge(let length, let limit): "a message of \(length) bytes exceeds the limit of \(limit)"
        case .malformed(let why): why
        }
    }
}

/// Cuts the bytes of one direction of the channel into messages. Pure: bytes in, messages out. The length is
/// checked against `limit` before anything is buffered for it.
public struct ControlFrameReader: Sendable {
    /// Controller → proxy messages may carry a large table.
    public static let snapshotLimit = 64 * 1024 * 1024
    /// Proxy → controller messages are small.
    public static let proxyLimit = 64 * 1024

    private var buffer = ByteBuffer()
    private let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    /// Adds received bytes.
    public mutating func append(_ bytes: ByteBuffer) {
        var bytes = bytes
        buffer.writeBuffer(&bytes)
    }

    /// The next complete message, nil when more bytes are needed.
    public mutating func next() throws -> ControlMessage? {
        guard let kind: UInt8 = buffer.getInteger(at: buffer.readerIndex),
              let length: UInt32 = buffer.getInteger(at: buffer.readerIndex + 1)
        else { return nil }
        guard Int(length) <= limit else { throw ControlFrameError.tooLarge(length: Int(length), limit: limit) }
        guard buffer.readableBytes >= 5 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 5)
        let payload = buffer.readSlice(length: Int(length))!
        if buffer.readableBytes == 0 { buffer.clear() } else if buffer.readerIndex > 1 << 20 { buffer.discardReadBytes() }
        return try ControlMessage.decode(kind: kind, payload: payload)
    }
}
