/// A cursor over one fuzz input that hands out the values a target needs (small integers, byte strings,
/// strings), so that one byte string from libFuzzer can drive a structured call. Running out of bytes yields
/// zeros and empty strings: every input, however short, is a valid call.
public struct FuzzInput {
    /// The bytes not consumed yet.
    public private(set) var rest: ArraySlice<UInt8>

    /// A cursor over `bytes`.
    public init(_ bytes: [UInt8]) {
        rest = bytes[...]
    }

    /// A cursor over libFuzzer's buffer (copied: the buffer is only valid during the call).
    public init(_ data: UnsafePointer<UInt8>, _ size: Int) {
        self.init(Array(UnsafeBufferPointer(start: data, count: size)))
    }

    /// Whether every byte has been consumed.
    public var isEmpty: Bool { rest.isEmpty }

    /// The next byte, or 0 past the end.
    public mutating func byte() -> UInt8 {
        rest.popFirst() ?? 0
    }

    /// A value in `0..<bound` (bound ≤ 256) from one byte.
    public mutating func choice(_ bound: Int) -> Int {
        precondition(bound > 0 && bound <= 256)
        return Int(byte()) % bound
    }

    /// The next `count` bytes (fewer at the end).
    public mutating func bytes(_ count: Int) -> [UInt8] {
        let taken = rest.prefix(count)
        rest = rest.dropFirst(count)
        return Array(taken)
    }

    /// A big-endian integer from the next `width` bytes.
    public mutating func integer(width: Int) -> UInt64 {
        bytes(width).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Bytes up to the next `separator` (consumed, not returned), or all that is left.
    public mutating func field(separator: UInt8 = 0) -> [UInt8] {
        let end = rest.firstIndex(of: separator) ?? rest.endIndex
        let taken = Array(rest[rest.startIndex..<end])
        rest = rest[end...].dropFirst()
        return taken
    }

    /// `field(separator:)` as a String; bytes that are not UTF-8 become U+FFFD, as they do when Pier decodes
    /// labels, TOML or headers.
    public mutating func string(separator: UInt8 = 0) -> String {
        String(decoding: field(separator: separator), as: UTF8.self)
    }

    /// Everything left, as a String.
    public mutating func remainingString() -> String {
        defer { rest = rest[rest.endIndex...] }
        return String(decoding: rest, as: UTF8.self)
    }
}

/// Fails the run with a message libFuzzer reports as a crash (and the replay driver as a failure).
public func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("invariant broken: \(message())", file: file, line: line) }
}

extension FuzzInput {
    /// Up to `maxCuts` cut points (a byte for how many, two per position): with `pieces(_:at:)`, lets a
    /// target feed what follows in reads the fuzzer chooses.
    public mutating func cuts(max maxCuts: Int) -> [Int] {
        (0..<choice(maxCuts + 1)).map { _ in Int(integer(width: 2)) }
    }
}

/// `bytes` cut at `cuts` (positions modulo its length; empty pieces dropped, at least one piece).
public func pieces(_ bytes: [UInt8], at cuts: [Int]) -> [[UInt8]] {
    var pieces: [[UInt8]] = []
    var start = 0
    for cut in cuts.map({ bytes.isEmpty ? 0 : $0 % bytes.count }).sorted() where cut > start {
        pieces.append(Array(bytes[start..<cut]))
        start = cut
    }
    pieces.append(Array(bytes[start...]))
    return pieces
}
