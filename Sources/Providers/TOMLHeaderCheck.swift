/// Finds the table headers TOMLKit's parser cannot take: a `[` or `[[` at the start of a line whose key does not
/// start with a key character or a quote (`[`, `[ {a]`, `[[[a]]]`, `[=`, `[.a]`).
///
/// toml++ 3.4.0, which TOMLKit 0.6.0 bundles, enters its key parser on such a header with a broken
/// precondition: an assertion that aborts the process in a debug build, undefined behaviour (an "assume") in a
/// release one — so one typo in a watched configuration file could take `pier serve` down. Fixed upstream
/// after 3.4.0 (marzer/tomlplusplus#301); found here by `fuzz-config-file`. Until TOMLKit ships the fix, the file
/// is refused as a syntax error before it reaches toml++.
///
/// A small lexer: it skips strings (all four kinds) and comments and tracks brackets of values, so that a
/// `[` inside a string or a multi-line array is not taken for a header. Any other `[` is a header unless an
/// `=` precedes it on its line: in valid TOML a `[` can be nothing else, and toml++ skips more than spaces
/// before a header (a byte order mark, found by the fuzzer), so "first on its line" would miss some.
enum TOMLHeaderCheck {
    /// The line and column (1-based) of the first such header, or nil.
    static func firstBrokenHeader(_ text: String) -> (line: Int, column: Int)? {
        let bytes = Array(text.utf8)
        var i = 0
        var line = 1
        var lineStart = 0
        var depth = 0
        var afterEquals = false
        func at(_ offset: Int) -> UInt8? { i + offset < bytes.count ? bytes[i + offset] : nil }
        while i < bytes.count {
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: "\n"):
                line += 1
                lineStart = i + 1
                afterEquals = false
                i += 1
                continue
            case UInt8(ascii: "#"):
                while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
                continue
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                i = endOfString(bytes, from: i, counting: &line, lineStart: &lineStart)
            case UInt8(ascii: "=") where depth == 0:
                afterEquals = true
                i += 1
            case UInt8(ascii: "[") where depth == 0 && !afterEquals:
                i += 1
                if at(0) == UInt8(ascii: "[") { i += 1 }
                while let next = at(0), next == UInt8(ascii: " ") || next == UInt8(ascii: "\t") { i += 1 }
                guard let next = at(0), isKeyStart(next) else { return (line, i - lineStart + 1) }
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                i += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth = max(0, depth - 1)
                i += 1
            default:
                i += 1
            }
        }
        return nil
    }

    /// A bare key character, a quote, or `]` (an empty header, which toml++ reports itself).
    private static func isKeyStart(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "]"):
            return true
        default:
            return false
        }
    }

    /// The index after the string that starts at `start` (basic or literal, single- or multi-line); an
    /// unterminated one ends at the end of its line (single-line) or of the text (multi-line).
    private static func endOfString(_ bytes: [UInt8], from start: Int, counting line: inout Int, lineStart: inout Int) -> Int {
        let quote = bytes[start]
        let multiLine = start + 2 < bytes.count && bytes[start + 1] == quote && bytes[start + 2] == quote
        var i = start + (multiLine ? 3 : 1)
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "\\"), quote == UInt8(ascii: "\"") {
                i += 2
                continue
            }
            if byte == UInt8(ascii: "\n") {
                if !multiLine { return i }
                line += 1
                lineStart = i + 1
            }
            if byte == quote {
                guard multiLine else { return i + 1 }
                if i + 2 < bytes.count, bytes[i + 1] == quote, bytes[i + 2] == quote {
                    // Up to two more quotes belong to the string's content (`""""` ends with one).
                    var end = i + 3
                    while end < bytes.count, end < i + 5, bytes[end] == quote { end += 1 }
                    return end
                }
            }
            i += 1
        }
        return i
    }
}
