/// Parsers for the value syntaxes labels and configuration share: booleans, nginx-style durations and sizes.
public enum ValueSyntax {
    /// Go's `strconv.ParseBool` set, which Interlock accepted: 1 t T TRUE true True, 0 f F FALSE false False.
    public static func bool(_ text: String) -> Bool? {
        switch text.trimmingWhitespace() {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }

    /// An nginx time: a number with an optional unit (`ms`, `s`, `m`, `h`, `d`); a bare number is seconds.
    /// Several parts may follow each other (`1m30s`). Returns nil when malformed.
    public static func duration(_ text: String) -> Duration? {
        let s = Array(text.trimmingWhitespace().utf8)
        guard !s.isEmpty else { return nil }
        var total = Duration.zero
        var i = 0
        while i < s.count {
            var digits = 0
            var value: Int64 = 0
            while i < s.count, s[i] >= 0x30, s[i] <= 0x39 {
                value = value &* 10 &+ Int64(s[i] - 0x30)
                digits += 1
                i += 1
                if digits > 12 { return nil }
            }
            guard digits > 0 else { return nil }
            var unit = ""
            while i < s.count, s[i] >= 0x61, s[i] <= 0x7A {
                unit.append(Character(UnicodeScalar(s[i])))
                i += 1
            }
            switch unit {
            case "ms": total += .milliseconds(value)
            case "", "s": total += .seconds(value)
            case "m": total += .seconds(value * 60)
            case "h": total += .seconds(value * 3600)
            case "d": total += .seconds(value * 86400)
            default: return nil
            }
            // Each part is below 2^57 s; stopping past 2^62 s keeps Duration's 128-bit sum from trapping.
            if total > .seconds(Int64(1) << 62) { return nil }
            if unit.isEmpty, i < s.count { return nil }
        }
        return total
    }

    /// `duration` in the syntax `duration(_:)` reads: `10s`, or `1500ms` when it is not whole seconds.
    public static func text(_ duration: Duration) -> String {
        duration.nginxText
    }

    /// An nginx size: a number with an optional `k`, `m` or `g` (binary multiples, case-insensitive).
    public static func size(_ text: String) -> Int64? {
        var t = text.trimmingWhitespace().lowercased()
        guard !t.isEmpty else { return nil }
        var multiplier: Int64 = 1
        switch t.last {
        case "k": multiplier = 1024
        case "m": multiplier = 1024 * 1024
        case "g": multiplier = 1024 * 1024 * 1024
        default: break
        }
        if multiplier != 1 { t.removeLast() }
        guard !t.isEmpty, t.count <= 12, t.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(t) else {
            return nil
        }
        // 12 digits times 1g overflows Int64: malformed, not a trap.
        let (bytes, overflow) = n.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }

    /// `text` without leading and trailing ASCII whitespace.
    public static func trimmed(_ text: String) -> String {
        text.trimmingWhitespace()
    }

    /// A list separated by `separator`, items trimmed, empty items dropped.
    public static func list(_ text: String, separator: Unicode.Scalar = ",") -> [String] {
        // Split on the separator's byte (always ASCII here): no grapheme breaking for 10,000-service tables.
        let byte = UInt8(ascii: separator)
        if !text.utf8.contains(byte) {
            // One item, the common case (one host, one path).
            let item = text.trimmingWhitespace()
            return item.isEmpty ? [] : [item]
        }
        return text.utf8.split(separator: byte).compactMap { part in
            let item = String(Substring(part)).trimmingWhitespace()
            return item.isEmpty ? nil : item
        }
    }
}
