import Logging
import Synchronization

/// Keeps every log line, for assertions on what was said.
public struct RecordingLogHandler: LogHandler {
    public final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        public var all: [String] { lines.withLock { $0 } }
        public func count(_ text: String) -> Int { all.filter { $0.contains(text) }.count }
    }

    let recorded: Lines
    public var logLevel: Logger.Level = .debug
    public var metadata: Logger.Metadata = [:]

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        recorded.lines.withLock { $0.append("\(event.level) \(event.message) \(fields)") }
    }

    public static func logger() -> (Logger, Lines) {
        let lines = Lines()
        return (Logger(label: "test") { _ in RecordingLogHandler(recorded: lines) }, lines)
    }
}

/// Polls `condition` every 5 ms until it holds or `seconds` pass; returns whether it held.
public func becomesTrue(_ seconds: Double = 5, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while await !condition() {
        if ContinuousClock.now > deadline { return false }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return true
}
