import Foundation
import Testing

@testable import Credentials

/// A fresh temporary directory; the caller removes it.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("pier-credentials-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A secrets directory as the stack mounts it (`pier-ca.crt`, `pier-<role>.crt`, `pier-<role>.key`).
struct SecretsDirectory {
    let url: URL

    /// `cas` are concatenated into `pier-ca.crt` (a rotation bundle when several).
    init(cas: [ClusterCA], leaves: [IssuedCredential]) throws {
        url = try makeTemporaryDirectory()
        try cas.map(\.certificatePEM).joined().write(to: file(CredentialFiles.caFileName), atomically: false, encoding: .utf8)
        for leaf in leaves {
            try leaf.certificatePEM.write(to: file(leaf.role.certificateFileName), atomically: false, encoding: .utf8)
            try leaf.privateKeyPEM.write(to: file(leaf.role.keyFileName), atomically: false, encoding: .utf8)
        }
    }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    func load(_ role: CredentialRole) throws -> CredentialFiles { try CredentialFiles(role: role, directory: url.path) }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Runs an executable to completion: exit status, stdout, stderr.
func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// An executable found in PATH, or a test failure naming it.
func executableInPath(_ name: String) throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for folder in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
        return "\(folder)/\(name)"
    }
    throw TestFailure(description: "\(name) is not in PATH (\(path)): scripts/test installs it")
}

/// A failure with its reason, thrown from a test.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
}

/// `openssl` with the arguments; fails the test with its stderr when it exits non-zero.
@discardableResult
func openssl(_ arguments: [String]) throws -> String {
    let result = try runProcess(try executableInPath("openssl"), arguments)
    #expect(result.status == 0, "openssl \(arguments.joined(separator: " ")): \(result.err)")
    return result.out
}
