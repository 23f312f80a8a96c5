#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import Logging

/// How log lines are written (`--log-format`).
enum LogFormat: String, CaseIterable, ExpressibleByArgument {
    /// `<time> <level> <message> <key=value …>`, for people.
    case text
    /// One JSON object per line (`time`, `level`, `msg`, then the metadata), for log collectors.
    case json
}

/// Writes one line per log event to standard error: `<time> <level> <message> <key=value …>`, or one JSON
/// object with the same content.
///
/// swift-log's `StreamLogHandler` writes the logger's label and the emitting module around every message
/// (`error pier: [pier] error: …`): noise for a single-process router whose lines are read by people and
/// grepped by key. The message comes first so that lines read as sentences; metadata follows, sorted.
struct PierLogHandler: LogHandler {
    var logLevel: Logger.Level
    var format: LogFormat = .text
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { _, new in new } }
        if let error = event.error { all["error"] = "\(error)" }
        let line: String
        switch format {
        case .text: line = Self.format(time: time(nil), level: event.level, message: "\(event.message)", metadata: all)
        case .json: line = Self.json(time: Self.now(), level: event.level, message: "\(event.message)", metadata: all)
        }
        Self.emit(line)
    }

    /// Writes to file descriptor 2 directly, one call per line where the kernel takes it whole (a line up to
    /// PIPE_BUF is atomic on a pipe), so that lines from several threads do not mix.
    private static func emit(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if n > 0 { offset += n } else if n < 0, errno == EINTR { continue } else { return }
            }
        }
    }

    /// The line for one event, newline included.
    static func format(time seconds: time_t, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var line = timestamp(seconds) + " \(level) " + message
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        return line + "\n"
    }

    /// ISO 8601 local time with its offset, as swift-log's own handler writes it.
    private static func timestamp(_ seconds: time_t) -> String {
        var t = seconds
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [Int8](repeating: 0, count: 32)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
