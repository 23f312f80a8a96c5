/// One field line as a decoder reported it. `value` is nil when Pier's bytes are not UTF-8: NIO turns such
/// bytes into U+FFFD, so the two cannot be compared.
public struct DecodedField: Equatable, CustomStringConvertible {
    public var name: String
    public var value: String?

    public init(name: String, value: String?) {
        self.name = name
        self.value = value
    }

    public static func == (a: Self, b: Self) -> Bool {
        guard a.name == b.name else { return false }
        guard let x = a.value, let y = b.value else { return true }
        return x == y
    }

    public var description: String { "\(name.debugDescription): \(value?.debugDescription ?? "<not UTF-8>")" }
}

/// A request or response head in the terms both decoders share.
public struct DecodedHead: Equatable, CustomStringConvertible {
    /// Request: method and target; response: the status code.
    public var start: [String]
    public var version: String
    public var fields: [DecodedField]

    public init(start: [String], version: String, fields: [DecodedField]) {
        self.start = start
        self.version = version
        self.fields = fields
    }

    public var description: String { "\(start.joined(separator: " ")) \(version) \(fields)" }
}

/// The first message of a connection: interim (1xx) heads before it, its head, its body and trailers.
public struct DecodedMessage: CustomStringConvertible {
    public var interim: [DecodedHead] = []
    public var head: DecodedHead
    public var body: [UInt8] = []
    public var trailers: [DecodedField] = []
    /// Pier: the head asks to switch protocols; NIO: the message was a 101 response.
    public var upgrade = false

    public init(head: DecodedHead) {
        self.head = head
    }

    public var description: String {
        "\(interim.map { "\($0) / " }.joined())\(head), body \(String(decoding: body, as: UTF8.self).debugDescription), trailers \(trailers)"
    }
}

/// How far a decoder got with the first message of its input.
public enum DecodeOutcome: CustomStringConvertible {
    /// Head and whole body.
    case complete(DecodedMessage)
    /// An error before the message's end.
    case refused(String)
    /// The input ended first.
    case incomplete

    public var message: DecodedMessage? {
        if case .complete(let message) = self { return message }
        return nil
    }

    public var description: String {
        switch self {
        case .complete(let message): return "complete: \(message)"
        case .refused(let reason): return "refused: \(reason)"
        case .incomplete: return "incomplete"
        }
    }
}

/// `bytes` written for a failure message: printable ASCII as is, every other byte escaped.
public func escaped(_ bytes: [UInt8]) -> String {
    bytes.map { $0 >= 0x20 && $0 < 0x7F && $0 != 0x5C ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
}
