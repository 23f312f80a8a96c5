import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real headless Chromium, driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON
/// messages ending in NUL, the browser reading fd 3 and writing fd 4), so that a test can watch one page
/// change without reloading it. No port is opened; `--host-resolver-rules` keeps every request on 127.0.0.1.
/// The browser runs in its own process group, killed as a whole when the test is done.
final class HeadlessBrowser {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// The browser executable, if one is installed.
    static var executable: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/bin"] {
            for name in ["chromium", "chromium-browser"] {
                let candidate = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }

    /// Whether a missing browser fails the test rather than skipping it (CI sets it).
    static var required: Bool { ProcessInfo.processInfo.environment["PIER_REQUIRE_BROWSER"] == "1" }

    /// Whether browser tests run: a browser is installed, or one is required (then its absence fails them).
    static var enabled: Bool { executable != nil || required }

    /// A browser, or nil after recording a failure when none is installed (the test was enabled by `required`).
    static func launch() throws -> HeadlessBrowser? {
        guard let executable else {
            Issue.record("PIER_REQUIRE_BROWSER=1 but no chromium on PATH")
            return nil
        }
        return try HeadlessBrowser(executable: executable)
    }

    private let pid: pid_t
    private let toBrowser: Int32
    private let fromBrowser: Int32
    private let profile: URL
    private var buffer: [UInt8] = []
    private var nextID = 0
    private var session: String?

    init(executable: String) throws {
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("pier-browser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let arguments = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--metrics-recording-only", "--mute-audio", "--user-data-dir=\(profile.path)",
            "--remote-debugging-pipe", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "about:blank",
        ]
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0]
        guard pipe(&input) == 0, pipe(&output) == 0 else { throw Failure("pipe: \(errno)") }
        // Close-on-exec for every end: only the copies made for fds 3 and 4 reach the browser.
        for fd in input + output { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // Above 4, so that dup2 onto 3 and 4 always makes a copy without close-on-exec.
        let childIn = fcntl(input[0], F_DUPFD_CLOEXEC, 10), childOut = fcntl(output[1], F_DUPFD_CLOEXEC, 10)
        close(input[0])
        close(output[1])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, childIn, 3)
        posix_spawn_file_actions_adddup2(&actions, childOut, 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        close(childIn)
        close(childOut)
        guard spawned == 0 else {
            close(input[1])
            close(output[0])
            throw Failure("cannot start \(executable): \(spawned)")
        }
        self.pid = pid
        toBrowser = input[1]
        fromBrowser = output[0]
    }

    /// Opens `url` in a new tab and attaches to it; later `evaluate` calls run in that page.
    func open(_ url: String) throws {
        let target = try send("Target.createTarget", ["url": url], inPage: false)
        guard let id = target["targetId"] as? String else { throw Failure("no target: \(target)") }
        let attached = try send("Target.attachToTarget", ["targetId": id, "flatten": true], inPage: false)
        guard let session = attached["sessionId"] as? String else { throw Failure("not attached: \(attached)") }
        self.session = session
    }

    /// The value of a JavaScript expression in the page (JSON-compatible values only).
    @discardableResult
    func evaluate(_ expression: String) throws -> Any? {
        let reply = try send("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let exception = reply["exceptionDetails"] { throw Failure("\(expression): \(exception)") }
        return (reply["result"] as? [String: Any])?["value"]
    }

    /// Polls `expression` every 100 ms until it is true; false when `timeout` passed first.
    func waitUntil(_ expression: String, timeout: Duration = .seconds(10)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            // An exception (the page is not there yet) counts as false.
            if (try? evaluate(expression)) as? Bool == true { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Sends one command and waits (5 s at most) for its reply, skipping events.
    @discardableResult
    func send(_ method: String, _ parameters: [String: Any] = [:], inPage: Bool = true) throws -> [String: Any] {
        nextID += 1
        var message: [String: Any] = ["id": nextID, "method": method, "params": parameters]
        if inPage {
            guard let session else { throw Failure("no page open") }
            message["sessionId"] = session
        }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(toBrowser, $0.baseAddress, $0.count) }
            guard n > 0 else { throw Failure("the browser closed its pipe") }
            written += n
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            let reply = try readMessage(until: deadline)
            guard reply["id"] as? Int == nextID else { continue }
            if let error = reply["error"] { throw Failure("\(method): \(error)") }
            return reply["result"] as? [String: Any] ?? [:]
        }
    }

    private func readMessage(until deadline: ContinuousClock.Instant) throws -> [String: Any] {
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let message = Array(buffer[..<end])
                buffer.removeSubrange(...end)
                return try JSONSerialization.jsonObject(with: Data(message)) as? [String: Any] ?? [:]
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw Failure("no reply from the browser in time") }
            var descriptor = pollfd(fd: fromBrowser, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            guard poll(&descriptor, 1, max(1, milliseconds)) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fromBrowser, $0.baseAddress, $0.count) }
            guard n > 0 else { throw Failure("the browser exited") }
            buffer += chunk[..<n]
        }
    }

    /// Stops the browser and every process it started, and removes its profile.
    func quit() {
        _ = try? send("Browser.close", inPage: false)
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(toBrowser)
        close(fromBrowser)
        try? FileManager.default.removeItem(at: profile)
    }
}
