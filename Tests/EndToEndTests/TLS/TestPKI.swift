import Foundation

/// A private certificate authority made at run time with the `openssl` command, and leaf certificates it
/// signs, in a temporary folder. Nothing is committed; every run has its own keys.
final class TestPKI: Sendable {
    let directory: URL
    var caPath: String { directory.appendingPathComponent("ca.crt").path }

    init() throws {
        directory = try temporaryDirectory()
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", path("ca.key"), "-out", path("ca.crt"), "-subj", "/CN=Pier Test CA", "-days", "2"])
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Issues a certificate for `names` (the first is the CN) into `<file>.crt` and `<file>.key`; returns the
    /// two paths.
    @discardableResult
    func issue(_ file: String, names: [String], ips: [String] = [], extensions: [String] = []) throws -> (certificate: String, key: String) {
        let san = (names.map { "DNS:\($0)" } + ips.map { "IP:\($0)" }).joined(separator: ",")
        try request(file, commonName: names[0])
        try (["subjectAltName=\(san)"] + extensions).map { $0 + "\n" }.joined().write(toFile: path(file + ".ext"), atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", path(file + ".csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
                     "-CAcreateserial", "-out", path(file + ".crt"), "-days", "2", "-extfile", path(file + ".ext")])
        return (path(file + ".crt"), path(file + ".key"))
    }

    /// Issues a certificate for `names` valid only from `start` to `end` (`YYYYMMDDHHMMSSZ`, UTC) — one that
    /// expired long ago, say — into `<file>.crt` and `<file>.key`. `openssl x509` only counts days from now;
    /// `openssl ca` takes explicit dates, with a throwaway database of its own.
    @discardableResult
    func issue(_ file: String, names: [String], validFrom start: String, until end: String) throws -> (certificate: String, key: String) {
        let ca = directory.appendingPathComponent("ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: ca, withIntermediateDirectories: true)
        try "".write(to: ca.appendingPathComponent("index.txt"), atomically: true, encoding: .utf8)
        try "01\n".write(to: ca.appendingPathComponent("serial"), atomically: true, encoding: .utf8)
        let san = names.map { "DNS:\($0)" }.joined(separator: ",")
        let config = """
            [ca]
            default_ca = test
            [test]
            database = \(ca.path)/index.txt
            new_certs_dir = \(ca.path)
            serial = \(ca.path)/serial
            default_md = sha256
            policy = any
            unique_subject = no
            [any]
            commonName = supplied
            [leaf]
            subjectAltName = \(san)
            """
        try config.write(to: ca.appendingPathComponent("ca.cnf"), atomically: true, encoding: .utf8)
        try request(file, commonName: names[0])
        try openssl(["ca", "-batch", "-config", ca.appendingPathComponent("ca.cnf").path, "-extensions", "leaf", "-notext",
                     "-in", path(file + ".csr"), "-out", path(file + ".crt"), "-cert", path("ca.crt"), "-keyfile", path("ca.key"),
                     "-startdate", start, "-enddate", end])
        return (path(file + ".crt"), path(file + ".key"))
    }

    /// A new P-256 key in `<file>.key` and a signing request for it in `<file>.csr` (folders made as needed).
    private func request(_ file: String, commonName: String) throws {
        try FileManager.default.createDirectory(at: directory.appendingPathComponent(file).deletingLastPathComponent(), withIntermediateDirectories: true)
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", path(file + ".key"), "-out", path(file + ".csr"), "-subj", "/CN=\(commonName)"])
    }

    private func openssl(_ arguments: [String]) throws {
        let result = try run("/usr/bin/openssl", arguments)
        guard result.status == 0 else { throw TestFailure("openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(result.err)") }
    }

    /// The subject CN and serial of the certificate a server presents for `serverName` (nil: no SNI), or the
    /// handshake's failure text.
    func presented(port: Int, serverName: String?, extra: [String] = []) throws -> (cn: String?, serial: String?, output: String) {
        var arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", caPath, "-verify_return_error"] + extra
        arguments += serverName.map { ["-servername", $0] } ?? ["-noservername"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try spawning.withLockedValue { _ in try process.run() }
        try input.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: outData, as: UTF8.self) + String(decoding: errData, as: UTF8.self)
        guard process.terminationStatus == 0, text.contains("Verify return code: 0") else { return (nil, nil, text) }
        // The leaf's subject line: "subject=CN = a.test" (OpenSSL 3).
        let cn = text.split(separator: "\n").first { $0.hasPrefix("subject=") }.map { line in
            String(line.components(separatedBy: "CN = ").last ?? String(line))
        }
        let pem = text.components(separatedBy: "-----BEGIN CERTIFICATE-----").dropFirst().first.map {
            "-----BEGIN CERTIFICATE-----" + $0.components(separatedBy: "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
        }
        var serial: String?
        if let pem {
            let file = path("presented-\(UUID().uuidString).pem")
            try pem.write(toFile: file, atomically: true, encoding: .utf8)
            serial = try run("/usr/bin/openssl", ["x509", "-in", file, "-noout", "-serial"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return (cn, serial, text)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
