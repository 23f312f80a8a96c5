import AsyncHTTPClient
import Testing
import Foundation
import NIOConcurrencyHelpers
import LabelConfig
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Providers
import ProxyCore
import RouteModel

/// Every end-to-end suite, one after the other: they start servers, processes and load of their own, and
/// timing claims (a reload live within 1 s) must not measure another suite's load on two cores.
@Suite(.serialized) enum EndToEnd {}

/// Pier's data plane in this process on 127.0.0.1:0, with a route table the test controls.
final class InProcessPier: Sendable {
    let server: ProxyServer
    let tables: RouteTableBox
    let port: Int
    /// The HTTPS entrypoint's port, when started with one.
    let httpsPort: Int?
    private let group: MultiThreadedEventLoopGroup
    private let certificates: CertificateFiles?
    private let defaultCertificate: CertificateNames?

    private init(server: ProxyServer, tables: RouteTableBox, port: Int, httpsPort: Int?, group: MultiThreadedEventLoopGroup,
                 certificates: CertificateFiles?, defaultCertificate: CertificateNames?) {
        self.server = server
        self.tables = tables
        self.port = port
        self.httpsPort = httpsPort
        self.group = group
        self.certificates = certificates
        self.defaultCertificate = defaultCertificate
    }

    /// Starts Pier; with `https`, also the HTTPS entrypoint, reading certificate files by absolute path.
    static func start(_ services: [ServiceDescription], settings: ProxySettings = ProxySettings(accessLog: false),
                      https: Bool = false, defaultCertificate: CertificateNames? = nil, threads: Int = 2) async throws -> InProcessPier {
        let certificates = https ? CertificateFiles(directory: "/nonexistent", allowsPaths: true) : nil
        let result = RouteTableBuilder(settings: settings, certificates: certificates, defaultCertificate: defaultCertificate).build(services)
        if result.hasErrors { throw TestFailure("table has errors: \(result.issues)") }
        let tables = RouteTableBox(result.table)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let server = ProxyServer(configuration: .init(host: "127.0.0.1", port: 0, https: https ? ("127.0.0.1", 0) : nil, gracePeriod: .seconds(2)),
                                 group: group, tables: tables, logger: Logger(label: "pier-test"))
        let address = try await server.start()
        return InProcessPier(server: server, tables: tables, port: address.port!, httpsPort: server.httpsAddress?.port, group: group,
                             certificates: certificates, defaultCertificate: defaultCertificate)
    }

    /// Compiles and publishes `services` as the next generation; returns the compile result.
    @discardableResult
    func publish(_ services: [ServiceDescription], settings: ProxySettings = ProxySettings(accessLog: false)) -> RouteTableBuilder.Result {
        let next = tables.current.generation + 1
        let result = RouteTableBuilder(settings: settings, certificates: certificates, defaultCertificate: defaultCertificate)
            .build(services, generation: next)
        tables.publish(result.table)
        return result
    }

    func stop() async {
        await server.drain()
        try? await group.shutdownGracefully()
    }

    var base: String { "http://127.0.0.1:\(port)" }
}

/// A port on 127.0.0.1 that refuses connections: bound, then closed.
func refusedPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

/// A service description with `com.docker.lb.*` labels given without their prefix.
func service(_ name: String, _ labels: [String: String], _ backends: [TestBackend]) -> ServiceDescription {
    var full: [String: String] = [:]
    for (k, v) in labels { full["com.docker.lb." + k] = v }
    return ServiceDescription(name: name, labels: full, endpoints: backends.map { .init(host: "127.0.0.1", port: $0.port) })
}

/// One shared HTTP client that never follows redirects.
let client: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.redirectConfiguration = .disallow
    configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}()

struct Reply {
    var status: UInt
    var headers: HTTPHeaders
    var body: String
    var fields: [String: String] { echoFields(body) }
}

/// GET (or another method) through Pier with a Host header.
func request(_ pier: InProcessPier, host: String, _ path: String, method: HTTPMethod = .GET, headers: [(String, String)] = [],
             body: String? = nil) async throws -> Reply {
    var req = HTTPClientRequest(url: pier.base + path)
    req.method = method
    req.headers.add(name: "Host", value: host)
    for (k, v) in headers { req.headers.add(name: k, value: v) }
    if let body { req.body = .bytes(ByteBuffer(string: body)) }
    let response = try await client.execute(req, timeout: .seconds(30))
    let buffer = try await response.body.collect(upTo: 16 * 1024 * 1024)
    return Reply(status: response.status.code, headers: response.headers, body: String(buffer: buffer))
}

/// Foundation's `Process.run()` on Linux reads `/proc/self/fd` to find the highest open descriptor, copying
/// each entry's whole 256-byte name field: an entry at the very end of readdir's 32 KiB buffer (about 1,360
/// open descriptors) is read past its end, and the test process crashed there in CI (a memcpy in libc, the
/// entries "1359" and "1360" in its registers). So the tests keep few descriptors open: `run` closes its
/// pipes as soon as the command is done (they stayed open for the whole `timeout` before, held by the kill
/// timer: 1,400 descriptors at the suite's busiest), and spawning is serialized, waiting is not.
let spawning = NIOLockedValueBox(())

/// Runs a command to completion; returns exit status, stdout and stderr.
@discardableResult
func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 60) throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try spawning.withLockedValue { _ in try process.run() }
    // A command that hangs (docker 20.10's `service logs` can) is ended after `timeout`. The timer holds the
    // process weakly (it would hold its pipes open until the deadline) and is cancelled once it exits.
    let pid = process.processIdentifier
    let killer = DispatchWorkItem { [weak process] in
        if let process, process.isRunning { kill(pid, SIGKILL) }
    }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    defer {
        killer.cancel()
        try? out.fileHandleForReading.close()
        try? err.fileHandleForReading.close()
    }
    // Both pipes are drained at once: a command that fills one (docker logs: a container's stderr) while the
    // other is read would block forever.
    let errBox = NIOLockedValueBox(Data())
    let reader = Thread { errBox.withLockedValue { $0 = err.fileHandleForReading.readDataToEndOfFile() } }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while reader.isExecuting || !reader.isFinished { usleep(1000) }
    let errData = errBox.withLockedValue { $0 }
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// curl with the given arguments (`-s` implied).
func curl(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    try run("/usr/bin/curl", ["-s", "--max-time", "60"] + arguments)
}

/// The `pier` executable built next to the test bundle (or $PIER_BINARY).
var pierBinary: String {
    if let path = ProcessInfo.processInfo.environment["PIER_BINARY"] { return path }
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("pier").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    let fallback = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/pier").path
    return fallback
}

/// A `pier` child process; stderr is collected, and the entrypoint port is read from its log.
final class PierProcess: @unchecked Sendable {
    // `log` is written by the pipe's reader thread and read by the test under `lock`.
    let process = Process()
    private let lock = NSLock()
    private var log = ""
    private(set) var port = 0
    private(set) var httpsPort = 0

    /// Runs `pier` with `arguments`; `serve` gets its HTTPS entrypoint on 127.0.0.1 and a free port, and every
    /// role a free admin port, unless the arguments say otherwise (tests never listen beyond loopback).
    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: pierBinary)
        var arguments = arguments
        if arguments.first == "serve", !arguments.contains("--https") { arguments += ["--https", "127.0.0.1:0"] }
        // Every role has an admin entrypoint, 127.0.0.1:8081 by default: tests run several Piers at once.
        if ["serve", "controller", "proxy"].contains(arguments.first), !arguments.contains("--admin") {
            arguments += ["--admin", "127.0.0.1:0"]
        }
        process.arguments = arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = err
        err.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            // At the end of the output (the process exited) the handler is removed: left set, it would be
            // called again and again, and its dispatch source would hold the handle open for good. The
            // descriptor then closes with the Pipe, when this object goes (closing it here, on the handle's
            // own queue, would deadlock in Foundation).
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                return
            }
            guard let self else { return }
            self.lock.lock()
            self.log += String(decoding: data, as: UTF8.self)
            self.lock.unlock()
        }
        try spawning.withLockedValue { _ in try process.run() }
    }

    var output: String {
        lock.lock()
        defer { lock.unlock() }
        return log
    }

    /// Waits for the HTTP entrypoint's "entrypoint listening" log line and returns its port (the HTTPS
    /// entrypoint's, when there is one, is in `httpsPort`).
    func waitForPort(timeout: Duration = .seconds(30)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for line in output.split(separator: "\n") where line.contains("entrypoint listening") {
                guard let address = line.range(of: "address=") else { continue }
                let value = line[address.upperBound...].prefix(while: { $0 != " " })
                guard let colon = value.range(of: ":", options: .backwards), let port = Int(value[colon.upperBound...]) else { continue }
                if line.contains("scheme=https") { httpsPort = port } else { self.port = port }
            }
            if port != 0 { return port }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("pier did not start: \(output)")
    }

    /// Waits for a log line containing `message` and returns the port of its `address=` field.
    func waitForAddress(of message: String, timeout: Duration = .seconds(30)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for line in output.split(separator: "\n") where line.contains(message) {
                guard let address = line.range(of: "address=") else { continue }
                let value = line[address.upperBound...].prefix(while: { $0 != " " })
                if let colon = value.range(of: ":", options: .backwards), let port = Int(value[colon.upperBound...]) { return port }
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("no \"\(message)\" line: \(output)")
    }

    func terminate(signal: Int32 = SIGTERM) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Peak resident memory of the process (VmHWM), in bytes.
    var peakRSS: Int { memory("VmHWM:") }

    /// Resident memory of the process now (VmRSS), in bytes.
    var rss: Int { memory("VmRSS:") }

    /// A size in kB from /proc/PID/status, in bytes; 0 when it cannot be read.
    private func memory(_ field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            return (Int(line.split(separator: " ")[1]) ?? 0) * 1024
        }
        return 0
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("pier-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Raw bytes to a port and everything it answers until it closes or `timeout` passes.
/// A blocking TCP socket connected to 127.0.0.1:`port`, whose reads give up after `timeout` seconds.
func loopbackSocket(port: Int, timeout: Int = 5) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket failed") }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(fd)
        throw TestFailure("connect failed")
    }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

/// Everything `fd` receives until the peer closes (or the socket's read timeout passes).
func readUntilClosed(_ fd: Int32) -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return out
}

func rawExchange(port: Int, _ bytes: String, timeout: TimeInterval = 5) throws -> String {
    let fd = try loopbackSocket(port: port, timeout: Int(timeout))
    defer { close(fd) }
    let data = Array(bytes.utf8)
    _ = data.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    return String(decoding: readUntilClosed(fd), as: UTF8.self)
}

/// A raw TCP client that connects at once and sends its bytes later, a few at a time (slowloris).
final class SlowClient: Sendable {
    let fd: Int32
    let connectedAt = ContinuousClock.now

    init(port: Int) throws {
        fd = try loopbackSocket(port: port)
    }

    /// Sends `text` one byte every `interval` (all at once for zero) until done or the server stops taking
    /// bytes, then reads the reply until the server closes. Returns the reply and the time from the first
    /// byte sent to the close.
    func drip(_ text: String, every interval: Duration) -> (reply: String, closedAfter: Duration) {
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let first = ContinuousClock.now
        if interval == .zero {
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        } else {
            for byte in bytes {
                var b = byte
                if send(fd, &b, 1, Int32(MSG_NOSIGNAL)) <= 0 { break }
                // Stop dripping once the server has answered (a readable socket).
                var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&probe, 1, Int32(interval.components.attoseconds / 1_000_000_000_000_000 + interval.components.seconds * 1000)) > 0 { break }
            }
        }
        let out = readUntilClosed(fd)
        return (String(decoding: out, as: UTF8.self), ContinuousClock.now - first)
    }
}
