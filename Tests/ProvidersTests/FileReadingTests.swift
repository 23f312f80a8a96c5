import Foundation
import LabelConfig
@testable import Providers
import RouteModel
import Testing

@Suite("Reading the configuration file and certificate files: which path, and why not")
struct FileReadingTests {
    func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pier-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("a directory, a device, a missing file are refused with the path and the reason")
    func notAFile() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("absent.toml").path
        for (path, reason) in [(dir.path, "is a directory, not a file"), ("/dev/null", "not a regular file (a character device)"),
                               (missing, "not found"), (missing + "/x", "not found")] {
            let (config, issues) = FileProvider.load(path: path)
            #expect(config == nil, "\(path)")
            #expect(issues.map(\.description) == ["error: cannot read the configuration file \"\(path)\": \(reason)"])
        }
        let plain = dir.appendingPathComponent("plain")
        try "x".write(to: plain, atomically: true, encoding: .utf8)
        #expect(FileText.read(plain.path + "/below") == .failure(.init(reason: "a part of the path is not a directory")))
    }

    @Test("a file that lists no service gets a warning, unless its services are ignored (--docker)")
    func noServices() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("pier.toml")
        try "[Entrypoints]\nHTTP = \"127.0.0.1:8080\"\n".write(to: file, atomically: true, encoding: .utf8)
        let (config, issues) = FileProvider.load(path: file.path)
        #expect(config != nil)
        #expect(issues.map(\.description) == [
            "warning: \"\(file.path)\" lists no service ([[Services]]): nothing is routed, every request gets 503",
        ])
        #expect(FileProvider.load(path: file.path, servicesIgnored: true).1.isEmpty)
        try "[[Services]]\nName = \"web\"\nEndpoints = [\"127.0.0.1:1\"]\n[Services.Labels]\n\"com.docker.lb.hosts\" = \"a.test\"\n"
            .write(to: file, atomically: true, encoding: .utf8)
        #expect(FileProvider.load(path: file.path).1.isEmpty)
    }

    @Test("a service without a name is named by its position, counted from 1", arguments: [
        (0, "the 1st [[Services]]"), (1, "the 2nd [[Services]]"), (2, "the 3rd [[Services]]"), (3, "the 4th [[Services]]"),
        (10, "the 11th [[Services]]"), (11, "the 12th [[Services]]"), (20, "the 21st [[Services]]"), (111, "the 112th [[Services]]"),
    ])
    func servicePosition(index: Int, expected: String) {
        #expect(ConfigFileParser.servicePosition(index) == expected)
    }

    @Test("the 5th service without a name is reported as the 5th, not Services[4]")
    func unnamedService() {
        var text = ""
        for n in 1...4 { text += "[[Services]]\nName = \"s\(n)\"\nEndpoints = [\"127.0.0.1:1\"]\n" }
        text += "[[Services]]\nEndpoints = [\"127.0.0.1:1\"]\n"
        let issues = ConfigFileParser.parse(text).1
        #expect(issues.map(\.description) == ["error: Name of the 5th [[Services]]: missing: every service needs a Name; service ignored"])
    }

    @Test("a certificate pair with both files missing names both, each with its reason")
    func bothCertificateFilesMissing() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let secrets = CertificateFiles(directory: dir.path, allowsPaths: false)
        let load = secrets.load(CertificateNames(certificate: "web.crt", key: "web.key"))
        #expect(load.certificate == nil)
        #expect(load.problem == "cannot read \(dir.path)/web.crt (not found) nor \(dir.path)/web.key (not found); is the secret attached to Pier's service?")
        // Only the key missing: only the key is named.
        try "not a certificate".write(to: dir.appendingPathComponent("web.crt"), atomically: true, encoding: .utf8)
        let keyOnly = secrets.load(CertificateNames(certificate: "web.crt", key: "web.key"))
        #expect(keyOnly.problem == "cannot read \(dir.path)/web.key (not found); is the secret attached to Pier's service?")
        // Paths (allowed in a configuration file) get no hint about secrets.
        let files = CertificateFiles(directory: dir.path, allowsPaths: true)
        let paths = files.load(CertificateNames(certificate: dir.path + "/a.crt", key: dir.path))
        #expect(paths.problem == "cannot read \(dir.path)/a.crt (not found) nor \(dir.path) (is a directory, not a file)")
    }
}
