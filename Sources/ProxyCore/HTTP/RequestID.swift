import NIOCore

/// A request's id (`X-Request-Id`): the client's own when it sent a valid one, else 32 hex digits from the
/// loop's generator (nginx's `$request_id` format), kept as its 128 bits and written straight into the heads
/// that carry it — a `String` of 32 characters would be a heap allocation per request, and only the access
/// log needs one.
struct RequestID: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    private enum Value: Hashable {
        case generated(UInt64, UInt64)
        case given(String)
    }

    private let value: Value

    init(_ given: String) {
        value = .given(given)
    }

    init(stringLiteral given: String) {
        value = .given(given)
    }

    init(generated high: UInt64, _ low: UInt64) {
        value = .generated(high, low)
    }

    static let hexDigits = 32

    var description: String {
        switch value {
        case .given(let text): return text
        case .generated(let high, let low):
            return String(unsafeUninitializedCapacity: Self.hexDigits) { buffer in
                Self.hex(high, low) { index, digit in buffer[index] = digit }
                return Self.hexDigits
            }
        }
    }

    /// The id's length in bytes.
    var count: Int {
        switch value {
        case .given(let text): return text.utf8.count
        case .generated: return Self.hexDigits
        }
    }

    /// Writes the id's bytes.
    func write(into buffer: inout ByteBuffer) {
        switch value {
        case .given(let text): buffer.writeString(text)
        case .generated(let high, let low):
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.hexDigits) { out in
                Self.hex(high, low) { index, digit in out[index] = digit }
                return Self.hexDigits
            }
        }
    }

    /// The 32 lower-case hex digits of two words, each word's lowest digit first.
    private static func hex(_ high: UInt64, _ low: UInt64, _ put: (Int, UInt8) -> Void) {
        var high = high
        var low = low
        for i in 0..<16 {
            put(i, digit(high & 0xF))
            put(16 + i, digit(low & 0xF))
            high >>= 4
            low >>= 4
        }
    }

    @inline(__always)
    private static func digit(_ nibble: UInt64) -> UInt8 {
        let digit = UInt8(truncatingIfNeeded: nibble)
        return digit < 10 ? 0x30 + digit : 0x57 + digit
    }
}
