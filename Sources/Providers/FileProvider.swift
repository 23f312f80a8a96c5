import LabelConfig
import Logging
import Publishing
import RouteModel
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Watches the standalone configuration file and publishes a new route table whenever a saved edit changes
/// what it compiles to. An edit that does not parse is reported and the previous table stays live.
///
/// The file is polled (stat every `interval`, read only when size, mtime or inode moved): this sees
/// in-place writes, atomic renames by editors and bind-mounted Docker configs alike.
public final class FileProvider: Service, Sendable {
    private let path: String
    private let interval: Duration
    private let logger: Logger
    private let publisher: Publisher
    private let initial: StandaloneConfiguration
    private let initialIssues: [RouteIssue]
    private let adjust: @Sendable (inout StandaloneConfiguration) -> Void
    private let certificates: CertificateFiles

    /// Creates a provider for `path`; `initial` is the configuration already loaded at start-up (with
    /// `issues`, the parser's findings), which `publishInitial()` compiles and publishes as the first table.
    /// `adjust` applies command-line overrides to every configuration read, before it is compiled.
    /// `certificates` reads the certificate files; a change of any file it read rebuilds the table too.
    public init(path: String, interval: Duration = .milliseconds(50), initial: StandaloneConfiguration,
                issues: [RouteIssue] = [], certificates: CertificateFiles,
                adjust: @escaping @Sendable (inout StandaloneConfiguration) -> Void = { _ in },
                logger: Logger, publisher: Publisher) {
        self.certificates = certificates
        self.adjust = adjust
        self.path = path
        self.interval = interval
        self.initial = initial
        self.initialIssues = issues
        self.logger = logger
        self.publisher = publisher
    }

    /// Compiles and publishes the configuration loaded at start-up: called once before the entrypoints
    /// take traffic, so that the first request already has routes.
    public func publishInitial() {
        rebuild(initial, issues: initialIssues)
    }

    /// Reads and parses the file once. Unless `servicesIgnored` (with `--docker` the file gives only
    /// entrypoints and settings), a file that lists no service gets a warning: nothing would be routed.
    public static func load(path: String, servicesIgnored: Bool = false) -> (StandaloneConfiguration?, [RouteIssue]) {
        switch FileText.read(path) {
        case .failure(let failure):
            return (nil, [RouteIssue(.error, service: nil, reason: "cannot read the configuration file \"\(path)\": \(failure)")])
        case .success(let text):
            var (config, issues) = ConfigFileParser.parse(text)
            if !servicesIgnored, let config, let warning = noServicesIssue(config, path: path) { issues.append(warning) }
            return (config, issues)
        }
    }

    /// The warning for a configuration that routes nothing, or nil when it lists services.
    static func noServicesIssue(_ config: StandaloneConfiguration, path: String) -> RouteIssue? {
        guard config.services.isEmpty else { return nil }
        return RouteIssue(.warning, service: nil, reason: "\"\(path)\" lists no service ([[Services]]): nothing is routed, every request gets 503")
    }

    /// Polls until graceful shutdown or cancellation.
    public func run() async throws {
        // The file is compared with what was loaded at start-up only through the compiled table, so an
        // edit made between loading and the first poll is not missed.
        var lastStamp = FileStamp()
        var pendingStamp: FileStamp?
        var lastText: String?
        var current = initial
        // The parser's findings for `current`: part of every build of it, so that they are not taken for resolved.
        var currentIssues = initialIssues
        var certificateStamps = stamps(certificates.watchedFiles)
        var pendingCertificateStamps: [FileStamp]?
        // Whether the last edit was rejected or unreadable, so that the edit fixing it is acknowledged.
        var rejected = false
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: interval)
            let stamp = FileStamp(path: path)
            guard stamp != lastStamp else {
                pendingStamp = nil
                // Certificate files: a rotated certificate or key rebuilds the table with the same
                // configuration, once the files have stayed the same for one interval.
                let now = stamps(certificates.watchedFiles)
                if now != certificateStamps {
                    if now == pendingCertificateStamps {
                        pendingCertificateStamps = nil
                        certificateStamps = now
                        rebuild(current, issues: currentIssues)
                        certificateStamps = stamps(certificates.watchedFiles)
                    } else {
                        pendingCertificateStamps = now
                    }
                }
                continue
            }
            // A file being written in place can be caught half-way: read it only once its stamp has stayed
            // the same for one interval.
            guard stamp == pendingStamp else {
                pendingStamp = stamp
                continue
            }
            pendingStamp = nil
            lastStamp = stamp
            let text: String
            switch FileText.read(path) {
            case .failure(let failure):
                logger.error("configuration file unreadable; previous routes stay live", metadata: ["path": "\(path)", "reason": "\(failure)"])
                // The same text coming back is news too: it is read again and acknowledged.
                rejected = true
                lastText = nil
                continue
            case .success(let read):
                text = read
            }
            guard text != lastText else { continue }
            lastText = text
            let (parsed, issues) = ConfigFileParser.parse(text)
            guard var config = parsed else {
                rejected = true
                for issue in issues { logger.report(issue) }
                logger.error("configuration rejected; previous routes stay live", metadata: ["path": "\(path)"])
                continue
            }
            adjust(&config)
            if current.httpHost != config.httpHost || current.httpPort != config.httpPort
                || current.adminHost != config.adminHost || current.adminPort != config.adminPort || current.adminTokenFile != config.adminTokenFile {
                logger.warning("Entrypoints changed; a restart is needed for listeners to move")
            }
            if current.secretsDirectory != config.secretsDirectory {
                logger.warning("SecretsDirectory changed; a restart is needed for it to apply")
            }
            if rejected {
                // Said even when the routes end up unchanged: whoever fixed the file wants to see it taken.
                rejected = false
                logger.info("configuration accepted", metadata: ["path": "\(path)"])
            }
            current = config
            let warning = Self.noServicesIssue(config, path: path).map { [$0] } ?? []
            currentIssues = issues + warning
            rebuild(config, issues: currentIssues)
            certificateStamps = stamps(certificates.watchedFiles)
        }
    }

    /// Compiles `config` and hands it to the publisher, which decides whether anything changed.
    private func rebuild(_ config: StandaloneConfiguration, issues: [RouteIssue]) {
        publisher.publish(Build.timed { config.builder(certificates: certificates).buildWithInputs(config.services, providerIssues: issues) })
    }

    private func stamps(_ files: [String]) -> [FileStamp] { files.map { FileStamp(path: $0) } }
}

/// What identifies one version of a file cheaply: inode, size and modification time.
struct FileStamp: Equatable {
    var inode: UInt64 = 0
    var size: Int64 = -1
    var seconds: Int = 0
    var nanoseconds: Int = 0

    /// A stamp no file has, not even a missing one (size -1): a file deleted before the first look is
    /// reported too.
    init() { size = -2 }

    init(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        #if canImport(Darwin)
        seconds = st.st_mtimespec.tv_sec
        nanoseconds = st.st_mtimespec.tv_nsec
        #else
        seconds = st.st_mtim.tv_sec
        nanoseconds = st.st_mtim.tv_nsec
        #endif
    }
}
