import LabelConfig
import NIOConcurrencyHelpers
import NIOSSL
import RouteModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads certificates and keys from the secrets folder (`/run/secrets/<name>`, where Docker mounts the
/// secrets of a service) and validates them: both parse as PEM, the key belongs to the certificate, the
/// certificate has not expired.
///
/// Remembers the last good certificate of every name pair: a rotated file that fails validation is reported
/// and the previous certificate stays in use. Providers keep one instance for their whole life.
public final class CertificateFiles: CertificateSource, Sendable {
    /// The folder secret names are read from.
    public let directory: String
    /// Whether names may be absolute paths (the configuration file may give paths; Docker labels may not,
    /// since a label must not make Pier read arbitrary files of its host).
    public let allowsPaths: Bool
    /// Secret names no label may use: a controller's own credential files (`pier-controller.key`, …), which
    /// would otherwise be shipped to every proxy and let a stolen proxy impersonate the controller.
    public let reservedNames: Set<String>
    private let now: @Sendable () -> Int64

    private struct Remembered {
        var certificateText: String
        var keyText: String
        var certificate: TLSCertificate
    }

    private let state = NIOLockedValueBox<(good: [CertificateNames: Remembered], files: Set<String>)>(([:], []))

    /// Creates a source over `directory`.
    public init(directory: String = "/run/secrets", allowsPaths: Bool, reservedNames: Set<String> = [],
                now: @escaping @Sendable () -> Int64 = { Int64(time(nil)) }) {
        self.directory = directory
        self.allowsPaths = allowsPaths
        self.reservedNames = reservedNames
        self.now = now
    }

    /// Every file read so far: providers watch them for changes.
    public var watchedFiles: [String] { state.withLockedValue { Array($0.files).sorted() } }

    /// Whether the secret `name` can be read now (a controller holds back services whose secret is not yet
    /// attached to it). Never true for a reserved name or a path a label may not give.
    public func isReadable(_ name: String) -> Bool {
        guard case .success(let file) = path(of: name) else { return false }
        return access(file, R_OK) == 0
    }

    public func load(_ names: CertificateNames) -> CertificateLoad {
        // The previous certificate is a fallback only while it has not expired itself.
        let previous = state.withLockedValue { $0.good[names] }.flatMap { remembered in
            (remembered.certificate.notValidAfter ?? .max) >= now() ? remembered : nil
        }
        switch read(names) {
        case .failure(let problem):
            return CertificateLoad(certificate: previous?.certificate, problem: problem.message)
        case .success(let (certText, keyText)):
            if let previous, previous.certificateText == certText, previous.keyText == keyText {
                // Unchanged files, validated before and not expired since.
                return CertificateLoad(certificate: previous.certificate, problem: nil)
            }
            switch Self.validate(name: names.description, certificatePEM: certText, keyPEM: keyText, now: now()) {
            case .failure(let problem):
                return CertificateLoad(certificate: previous?.certificate, problem: problem.message)
            case .success(let certificate):
                state.withLockedValue { $0.good[names] = Remembered(certificateText: certText, keyText: keyText, certificate: certificate) }
                return CertificateLoad(certificate: certificate, problem: nil)
            }
        }
    }

    private struct Problem: Error {
        var message: String
    }

    private func path(of name: String) -> Result<String, Problem> {
        if reservedNames.contains(name) || reservedNames.contains(where: { name.hasSuffix("/" + $0) }) {
            return .failure(Problem(message: "\"\(name)\" names one of Pier's own credentials; a service cannot use it"))
        }
        if name.hasPrefix("/") {
            return allowsPaths ? .success(name) : .failure(Problem(message: "\"\(name)\" is a path; name a Docker secret instead"))
        }
        if name.contains("/") || name == "." || name == ".." {
            return .failure(Problem(message: "\"\(name)\" is not a secret name"))
        }
        return .success(directory + "/" + name)
    }

    /// Both files' texts; when either cannot be read, every unreadable file with its reason, so that a
    /// missing pair is fixed in one go.
    private func read(_ names: CertificateNames) -> Result<(String, String), Problem> {
        var texts: [String] = []
        var failures: [String] = []
        var secrets = false
        for name in [names.certificate, names.key] {
            let file: String
            switch path(of: name) {
            case .failure(let problem): return .failure(problem)
            case .success(let p): file = p
            }
            state.withLockedValue { _ = $0.files.insert(file) }
            switch FileText.read(file) {
            case .success(let text):
                texts.append(text)
            case .failure(let failure):
                failures.append("\(file) (\(failure))")
                secrets = secrets || !name.hasPrefix("/")
            }
        }
        guard failures.isEmpty else {
            let hint = secrets ? "; is the secret attached to Pier's service?" : ""
            return .failure(Problem(message: "cannot read " + failures.joined(separator: " nor ") + hint))
        }
        return .success((texts[0], texts[1]))
    }

    private static func validate(name: String, certificatePEM: String, keyPEM: String, now: Int64) -> Result<TLSCertificate, Problem> {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
        } catch {
            return .failure(Problem(message: "the certificate is not a PEM certificate chain"))
        }
        guard let leaf = chain.first else { return .failure(Problem(message: "the certificate file holds no certificate")) }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            // Never echo the key's content, not even in part.
            return .failure(Problem(message: "the key is not a PEM private key"))
        }
        let expiry = Int64(leaf.notValidAfter)
        if expiry < now { return .failure(Problem(message: "certificate expired (\(date(expiry)))")) }
        do {
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            return .failure(Problem(message: "the private key does not belong to the certificate"))
        }
        var dnsNames: [String] = []
        for san in leaf._subjectAlternativeNames() where san.nameType == .dnsName {
            dnsNames.append(String(decoding: san.contents, as: UTF8.self).lowercased())
        }
        return .success(TLSCertificate(name: name, certificatePEM: certificatePEM, privateKeyPEM: keyPEM,
                                       notValidAfter: expiry, dnsNames: dnsNames))
    }

    /// `YYYY-MM-DD` in UTC.
    static func date(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    }

    /// The TLS 1.2 cipher suites the TLS library (BoringSSL) implements, by their OpenSSL names.
    static let knownCiphers: Set<String> = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-PSK-CHACHA20-POLY1305", "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-PSK-AES128-CBC-SHA",
        "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES256-SHA", "ECDHE-PSK-AES256-CBC-SHA", "AES128-GCM-SHA256",
        "AES256-GCM-SHA384", "AES128-SHA", "PSK-AES128-CBC-SHA", "AES256-SHA", "PSK-AES256-CBC-SHA", "DES-CBC3-SHA",
    ]

    /// Checks `SSLCiphers`: a colon-separated list of cipher names the TLS library implements (aliases such as
    /// `HIGH` and `!` exclusions are not accepted: the library gives up, fatally, on a list that leaves no
    /// cipher, so Pier accepts only lists it can check). Nil when usable, else why not.
    public static func cipherProblem(_ ciphers: String) -> String? {
        let names = ciphers.split(separator: ":").map { String($0.filter { !$0.isWhitespace }) }
        guard !names.isEmpty else { return "no cipher named" }
        let unknown = names.filter { !knownCiphers.contains($0) }
        guard unknown.isEmpty else {
            return "unknown cipher \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")); list TLS 1.2 cipher names separated by colons, such as ECDHE-RSA-AES128-GCM-SHA256"
        }
        return nil
    }
}
