import Foundation
import Testing

@testable import Credentials

/// The proxy's state file: sealed with its credentials, refused when changed, cut or written with other
/// credentials; written atomically with mode 0600.
@Suite("State file")
struct StateFileTests {
    let ca: ClusterCA
    let secrets: SecretsDirectory
    let payload = Data(#"{"savedAt":"2026-12-04T21:00:00Z","version":"1-abc"}{"schema":1,"services":[]}"#.utf8)

    init() throws {
        ca = try ClusterCA.generate()
        secrets = try SecretsDirectory(cas: [ca], leaves: [try ca.issue(.proxy)])
    }

    @Test func aSealedPayloadOpensWithTheSameCredentialsOnly() throws {
        defer { secrets.remove() }
        let credentials = try secrets.load(.proxy)
        let key = StateKey(credentials: credentials)
        let file = try key.seal(payload)
        #expect(file.prefix(10) == Data("PIERSTATE1".utf8))
        #expect(Array(file[10..<18]) == Array(credentials.publicKeyDigest.prefix(8)))
        #expect(file.range(of: Data("savedAt".utf8)) == nil, "the payload is readable in the file")
        #expect(try key.open(file) == payload)
        // Loaded again (a restarted proxy): the same key.
        #expect(try StateKey(credentials: try secrets.load(.proxy)).open(file) == payload)
        #expect(try key.seal(payload) != file, "two seals share a nonce")

        // The same key file as SEC1 gives the same state key: it derives from the scalar, not the encoding.
        let keyPath = secrets.file(CredentialRole.proxy.keyFileName).path
        let sec1 = try openssl(["ec", "-in", keyPath])
        try sec1.write(toFile: keyPath, atomically: false, encoding: .utf8)
        #expect(try StateKey(credentials: try secrets.load(.proxy)).open(file) == payload)
    }

    @Test func aFileOfOtherCredentialsIsRecognisedAsSuch() throws {
        defer { secrets.remove() }
        let file = try StateKey(credentials: try secrets.load(.proxy)).seal(payload)
        let rotated = try SecretsDirectory(cas: [ca], leaves: [try ca.issue(.proxy)])
        defer { rotated.remove() }
        let other = StateKey(credentials: try rotated.load(.proxy))
        #expect(throws: StateFileError.otherCredentials(keyID: Array(file[10..<18]).hex, expected: other.keyID.hex)) {
            try other.open(file)
        }
        #expect("\(StateFileError.otherCredentials(keyID: "a", expected: "b"))".contains("written with other credentials"))
    }

    @Test func theSameLeafUnderAnotherCAGivesAnotherKey() throws {
        defer { secrets.remove() }
        let credentials = try secrets.load(.proxy)
        let file = try StateKey(credentials: credentials).seal(payload)
        // Same private key and key id, other CA fingerprint (the HKDF info): authentication fails.
        let other = StateKey(privateKey: credentials.privateKeyScalar, publicKeyDigest: credentials.publicKeyDigest,
                             caFingerprint: Array(repeating: 0, count: 32))
        #expect(throws: StateFileError.damaged) { try other.open(file) }
    }

    @Test func everyFlippedByteIsRefused() throws {
        defer { secrets.remove() }
        let key = StateKey(credentials: try secrets.load(.proxy))
        let file = try key.seal(payload)
        for index in file.indices {
            var changed = file
            changed[index] ^= 0x01
            let expected: StateFileError = switch index {
            case 0..<10: .notAStateFile
            case 10..<18: .otherCredentials(keyID: Array(changed[10..<18]).hex, expected: key.keyID.hex)
            default: .damaged
            }
            #expect(throws: expected, "byte \(index)") { try key.open(changed) }
        }
    }

    @Test func everyTruncationIsRefused() throws {
        defer { secrets.remove() }
        let key = StateKey(credentials: try secrets.load(.proxy))
        let file = try key.seal(payload)
        #expect(throws: StateFileError.notAStateFile) { try key.open(Data()) }
        #expect(throws: StateFileError.notAStateFile) { try key.open(Data("{\"services\":[]}".utf8)) }
        for length in 1..<file.count {
            #expect(throws: StateFileError.damaged, "first \(length) bytes") { try key.open(file.prefix(length)) }
        }
    }

    @Test func writeReplacesTheFileAtomicallyWithMode0600() throws {
        defer { secrets.remove() }
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("proxy.state").path
        #expect(try StateFile.read(path: path) == nil)

        let first = Data(repeating: 1, count: 100_000), second = Data(repeating: 2, count: 50_000)
        try StateFile.write(path: path, bytes: first)
        #expect(try StateFile.read(path: path) == first)
        // A reader that opened the first file keeps reading it whole while the second replaces it.
        let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        try StateFile.write(path: path, bytes: second)
        #expect(try reader.readToEnd() == first)
        try reader.close()
        #expect(try StateFile.read(path: path) == second)

        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["proxy.state"], "a temporary file is left")
    }

    @Test func ioErrorsNameThePath() throws {
        defer { secrets.remove() }
        #expect(throws: StateFileError.io(path: "/nonexistent-pier/proxy.state", reason: "No such file or directory")) {
            try StateFile.write(path: "/nonexistent-pier/proxy.state", bytes: Data([1]))
        }
        let folder = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: StateFileError.io(path: folder.path, reason: "Is a directory")) { try StateFile.read(path: folder.path) }
    }
}
