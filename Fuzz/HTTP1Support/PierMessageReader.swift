import HTTP1Codec
import NIOCore

/// Pier's side of a differential target: reads the first message of a connection the way Pier's codec
/// handlers do (Sources/ProxyCore/HTTP1): a head from `HTTP1HeadParser`, then the body its framing says —
/// Content-Length bytes, `ChunkedDecoder`, or (responses) everything until the close. Responses skip interim
/// 1xx heads but 101, and a response to HEAD has no body whatever its head says, as in
/// `HTTP1ClientCodecHandler`.
public struct PierMessageReader {
    private enum State {
        case head
        case body
        case done
        case failed(String)
    }

    private var state = State.head
    private var parser: HTTP1HeadParser
    /// The body reader the codec handlers use.
    private var body = HTTP1BodyReader(.none)
    private var pending = ByteBuffer()
    private var message: DecodedMessage?
    private var interim: [DecodedHead] = []
    private let answersHEAD: Bool

    /// NIO's decoders' default limit for a head.
    public static let maxHeadBytes = 80 * 1024

    public init(role: HTTP1HeadParser.Role, answersHEAD: Bool = false) {
        parser = HTTP1HeadParser(role: role, maxHeadBytes: Self.maxHeadBytes)
        self.answersHEAD = answersHEAD
    }

    /// Reads the given pieces one at a time, then (`close`) the end of the connection.
    public static func read(_ pieces: [[UInt8]], role: HTTP1HeadParser.Role, answersHEAD: Bool = false, close: Bool) -> DecodeOutcome {
        var reader = PierMessageReader(role: role, answersHEAD: answersHEAD)
        for piece in pieces { reader.feed(piece) }
        if close { reader.close() }
        return reader.outcome
    }

    public var outcome: DecodeOutcome {
        switch state {
        case .done: return .complete(message!)
        case .failed(let reason): return .refused(reason)
        default: return .incomplete
        }
    }

    public mutating func feed(_ bytes: [UInt8]) {
        pending.writeBytes(bytes)
        do throws(HTTP1ParseError) {
            while try step() {}
        } catch {
            state = .failed("\(error.kind): \(error.reason)")
        }
    }

    public mutating func close() {
        if case .body = state, body.endsAtClose { state = .done }
    }

    private mutating func step() throws(HTTP1ParseError) -> Bool {
        switch state {
        case .head:
            guard let head = try parser.parse(&pending) else { return false }
            let decoded = Self.decode(head, role: parser.role)
            if parser.role == .response, head.status < 200, head.status != 101 {
                interim.append(decoded)
                return true
            }
            message = DecodedMessage(head: decoded)
            message!.interim = interim
            message!.upgrade = head.upgrade || head.status == 101
            if head.status == 101 {
                state = .done
                return false
            }
            body = HTTP1BodyReader(answersHEAD ? .none : head.framing)
            state = .body
            return true
        case .body:
            switch try body.next(&pending) {
            case .needMore:
                return false
            case .data(let slice):
                message!.body += Array(slice.readableBytesView)
            case .end(let trailers):
                message!.trailers = trailers.map { Self.decode($0, role: .trailers).fields } ?? []
                state = .done
            }
            return true
        case .done, .failed:
            return false
        }
    }

    /// A head in the shared terms; values that are not UTF-8 are left out of comparisons.
    public static func decode(_ head: HTTP1Head, role: HTTP1HeadParser.Role) -> DecodedHead {
        let fields = head.fields.map { field in
            let value = head.withBytes(Int(field.valueStart)..<Int(field.valueEnd)) { Array($0) }
            let utf8 = String(validating: value, as: UTF8.self)
            return DecodedField(name: head.name(field), value: utf8)
        }
        let start = role == .request ? [head.string(head.first), head.string(head.second)] : role == .response ? [String(head.status)] : []
        return DecodedHead(start: start, version: "HTTP/1.\(head.versionMinor)", fields: fields)
    }
}
