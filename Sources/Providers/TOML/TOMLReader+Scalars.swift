extension TOMLReader {
    /// `"…"` with escapes.
    mutating func basicString() throws(ParseError) -> String {
        let start = i
        i += 1
        var out: [UInt8] = []
        while true {
            guard let b = peek, b != 0x0A else { throw error("unterminated string", at: start) }
            i += 1
            switch b {
            case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"): try escape(into: &out)
            default:
                guard b >= 0x20 || b == 0x09, b != 0x7F else { throw error("control character in a string", at: i - 1) }
                out.append(b)
            }
        }
    }

    /// `'…'`, as written.
    mutating func literalString() throws(ParseError) -> String {
        let start = i
        i += 1
        while let b = peek, b != UInt8(ascii: "'") {
            guard b >= 0x20 || b == 0x09, b != 0x7F else { throw error(b == 0x0A ? "unterminated string" : "control character in a string", at: b == 0x0A ? start : i) }
            i += 1
        }
        guard peek != nil else { throw error("unterminated string", at: start) }
        i += 1
        return String(decoding: bytes[(start + 1)..<(i - 1)], as: UTF8.self)
    }

    /// `"""…"""` or `'''…'''`: a newline right after the opening quotes is dropped; in the basic form a
    /// backslash at the end of a line drops the line break and the whitespace that follows.
    mutating func multilineString(literal: Bool) throws(ParseError) -> String {
        let start = i
        let quote = bytes[i]
        i += 3
        if peek == 0x0A { i += 1 } else if peek == 0x0D, peek(1) == 0x0A { i += 2 }
        var out: [UInt8] = []
        while true {
            guard let b = peek else { throw error("unterminated string", at: start) }
            if b == quote, peek(1) == quote, peek(2) == quote {
                // Up to two quotes may end the content just before the closing three.
                var run = 3
                while peek(run) == quote { run += 1 }
                guard run <= 5 else { throw error("too many quotes at the end of a string") }
                out.append(contentsOf: repeatElement(quote, count: run - 3))
                i += run
                return String(decoding: out, as: UTF8.self)
            }
            i += 1
            if b == UInt8(ascii: "\\"), !literal {
                var j = i
                while j < bytes.count, bytes[j] == 0x20 || bytes[j] == 0x09 { j += 1 }
                if j < bytes.count, bytes[j] == 0x0A || bytes[j] == 0x0D {
                    i = j
                    while let w = peek, w == 0x20 || w == 0x09 || w == 0x0A || w == 0x0D { i += 1 }
                } else {
                    try escape(into: &out)
                }
                continue
            }
            if b == 0x0D, peek == 0x0A { out.append(b); continue }
            guard b >= 0x20 || b == 0x09 || b == 0x0A, b != 0x7F else { throw error("control character in a string", at: i - 1) }
            out.append(b)
        }
    }

    /// The escape after a backslash.
    mutating func escape(into out: inout [UInt8]) throws(ParseError) {
        guard let b = peek else { throw error("unterminated string") }
        i += 1
        switch b {
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(b)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = b == UInt8(ascii: "u") ? 4 : 8
            guard i + count <= bytes.count, let code = UInt32(String(decoding: bytes[i..<(i + count)], as: UTF8.self), radix: 16),
                  let scalar = Unicode.Scalar(code)
            else { throw error("invalid unicode escape", at: i - 2) }
            i += count
            out.append(contentsOf: String(Character(scalar)).utf8)
        default:
            throw error("invalid escape sequence \\\(Character(Unicode.Scalar(b)))", at: i - 2)
        }
    }

    /// A boolean, number or date-time: the run of characters up to a delimiter.
    mutating func scalar() throws(ParseError) -> TOMLValue {
        let start = i
        while let b = peek, !Self.endsScalar(b) { i += 1 }
        // A date and a time may be separated by one space (`1979-05-27 07:32:00`).
        if i - start == 10, peek == 0x20, let next = peek(1), next >= 0x30 && next <= 0x39, peek(3) == UInt8(ascii: ":") {
            i += 1
            while let b = peek, !Self.endsScalar(b) { i += 1 }
        }
        let token = String(decoding: bytes[start..<i], as: UTF8.self)
        if let value = Self.scalar(token) { return value }
        throw error(token.isEmpty ? "expected a value" : "invalid value \(token)", at: start)
    }

    static func endsScalar(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == UInt8(ascii: ",") || b == UInt8(ascii: "]")
            || b == UInt8(ascii: "}") || b == UInt8(ascii: "#")
    }

    static func scalar(_ token: String) -> TOMLValue? {
        switch token {
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan", "-nan": return .float(.nan)
        default: break
        }
        let utf8 = Array(token.utf8)
        if isDateTime(utf8) { return .dateTime(token) }
        if utf8.count > 2, utf8[0] == UInt8(ascii: "0"), let radix = [UInt8(ascii: "x"): 16, UInt8(ascii: "o"): 8, UInt8(ascii: "b"): 2][utf8[1]] {
            let digits = Array(utf8[2...])
            guard underscoresBetweenDigits(digits), let n = Int(String(decoding: digits.filter { $0 != 0x5F }, as: UTF8.self), radix: radix) else { return nil }
            return .integer(n)
        }
        var body = utf8[...]
        if let sign = body.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { body = body.dropFirst() }
        guard let first = body.first, first >= 0x30 && first <= 0x39 else { return nil }
        // No leading zeros in the integer part ("0", "0.5" and "0e1" are fine).
        if first == UInt8(ascii: "0"), body.count > 1, let second = body.dropFirst().first, second != UInt8(ascii: "."),
           second != UInt8(ascii: "e"), second != UInt8(ascii: "E") { return nil }
        let plain = String(decoding: utf8.filter { $0 != 0x5F }, as: UTF8.self)
        if body.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            guard floatShape(Array(body)), let d = Double(plain) else { return nil }
            return .float(d)
        }
        guard underscoresBetweenDigits(Array(body)), let n = Int(plain) else { return nil }
        return .integer(n)
    }

    /// Digits, each underscore between two digits (hex digits included).
    static func underscoresBetweenDigits(_ digits: [UInt8]) -> Bool {
        func isDigit(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66) }
        guard let first = digits.first, let last = digits.last, isDigit(first), isDigit(last) else { return false }
        for (k, b) in digits.enumerated() where !isDigit(b) {
            guard b == 0x5F, isDigit(digits[k - 1]), isDigit(digits[k + 1]) else { return false }
        }
        return true
    }

    /// `int[.frac][(e|E)[+|-]int]` with at least a fraction or an exponent, and digits around every dot.
    static func floatShape(_ body: [UInt8]) -> Bool {
        let exponent = body.firstIndex { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        let mantissa = Array(body[..<(exponent ?? body.count)])
        let parts = mantissa.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ underscoresBetweenDigits(Array($0)) }) else { return false }
        guard let exponent else { return parts.count == 2 }
        var rest = body[(exponent + 1)...]
        if let sign = rest.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { rest = rest.dropFirst() }
        return underscoresBetweenDigits(Array(rest)) && !rest.contains { $0 > 0x39 }
    }

    /// `YYYY-MM-DD…` or `HH:MM:SS…`: digits and separators in date-time positions.
    static func isDateTime(_ t: [UInt8]) -> Bool {
        func digits(_ range: Range<Int>) -> Bool { range.upperBound <= t.count && t[range].allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        let date = digits(0..<4) && t.count >= 10 && t[4] == UInt8(ascii: "-") && digits(5..<7) && t[7] == UInt8(ascii: "-") && digits(8..<10)
        let time = digits(0..<2) && t.count >= 8 && t[2] == UInt8(ascii: ":") && digits(3..<5) && t[5] == UInt8(ascii: ":") && digits(6..<8)
        return date || time
    }
}
