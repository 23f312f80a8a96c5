#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// `--log-format json`: one object per line, `{"time":…,"level":…,"msg":…, metadata…}`, keys as log
/// collectors name them (Loki, Elastic, Datadog read `time`, `level`, `msg`). Written by hand, not through
/// a Foundation encoder: the access log writes one line per request.
extension PierLogHandler {
    /// The wall clock, in seconds and milliseconds.
    static func now() -> (seconds: time_t, milliseconds: Int) {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return (spec.tv_sec, Int(spec.tv_nsec / 1_000_000))
    }

    /// The JSON line for one event, newline included. Metadata keys come sorted after `time`, `level` and
    /// `msg`; a metadata key that repeats one of those three is written as `meta.<key>`, so that no key
    /// appears twice.
    static func json(time: (seconds: time_t, milliseconds: Int), level: Logger.Level, message: String,
                     metadata: Logger.Metadata) -> String {
        var line = "{\"time\":\"" + rfc3339(time.seconds, milliseconds: time.milliseconds) + "\",\"level\":\"\(level)\",\"msg\":"
        appendString(message, to: &line)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            line += ","
            appendString(key == "time" || key == "level" || key == "msg" ? "meta." + key : key, to: &line)
            line += ":"
            append(value, to: &line)
        }
        return line + "}\n"
    }

    /// Strings are quoted; a value logged as a number (`.stringConvertible(200)`, not `"\(200)"`) is written
    /// as a JSON number when its text is one, so that `status` and `duration_ms` compare as numbers.
    private static func append(_ value: Logger.MetadataValue, to line: inout String) {
        switch value {
        case .string(let text):
            appendString(text, to: &line)
        case .stringConvertible(let convertible):
            let text = convertible.description
            if isNumber(text) { line += text } else { appendString(text, to: &line) }
        case .array(let values):
            line += "["
            for (i, element) in values.enumerated() {
                if i > 0 { line += "," }
                append(element, to: &line)
            }
            line += "]"
        case .dictionary(let entries):
            line += "{"
            for (i, (key, element)) in entries.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { line += "," }
                appendString(key, to: &line)
                line += ":"
                append(element, to: &line)
            }
            line += "}"
        }
    }

    /// RFC 8259 §7: quote, backslash and control characters escaped; everything else as UTF-8.
    static func appendString(_ text: String, to line: inout String) {
        line += "\""
        var plain = true
        for byte in text.utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C {
            plain = false
            break
        }
        if plain {
            line += text
        } else {
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": line += "\\\""
                case "\\": line += "\\\\"
                case "\n": line += "\\n"
                case "\r": line += "\\r"
                case "\t": line += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    line += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: line.unicodeScalars.append(scalar)
                }
            }
        }
        line += "\""
    }

    /// Whether `text` is a JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`. (`nan`, `inf`,
    /// `1.` and `.5` are not.)
    static func isNumber(_ text: String) -> Bool {
        var bytes = Substring(text).utf8
        func digits() -> Int {
            var n = 0
            while let b = bytes.first, b >= 0x30, b <= 0x39 { bytes = bytes.dropFirst(); n += 1 }
            return n
        }
        if bytes.first == 0x2D { bytes = bytes.dropFirst() }
        let leadingZero = bytes.first == 0x30
        let integer = digits()
        guard integer > 0, !(leadingZero && integer > 1) else { return false }
        if bytes.first == 0x2E {
            bytes = bytes.dropFirst()
            guard digits() > 0 else { return false }
        }
        if bytes.first == 0x65 || bytes.first == 0x45 {
            bytes = bytes.dropFirst()
            if bytes.first == 0x2B || bytes.first == 0x2D { bytes = bytes.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return bytes.isEmpty
    }

    /// `2026-12-05T01:22:30.123Z`.
    static func rfc3339(_ seconds: time_t, milliseconds: Int) -> String {
        var t = seconds
        var parts = tm()
        gmtime_r(&t, &parts)
        var buffer = [Int8](repeating: 0, count: 32)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &parts)
        let ms = milliseconds < 10 ? "00\(milliseconds)" : milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)"
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) + "." + ms + "Z"
    }
}
