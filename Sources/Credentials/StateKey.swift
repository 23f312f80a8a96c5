import Crypto
import Foundation

/// Seals and opens the proxy's state file (docs/design/controller-proxy.md §4) with a key derived from the
/// proxy's credentials. Pure: no IO (`StateFile` reads and writes).
///
/// Layout: `PIERSTATE1` (10 bytes), the key id (8 bytes), then an AES-256-GCM sealed box in its combined
/// representation (12-byte nonce, ciphertext, 16-byte tag). The key is HKDF-SHA256 of the proxy's private
/// key scalar (its raw 32 bytes, so PKCS#8 and SEC1 files of one key give one key), salt `pier-state-v1`,
/// info the issuing CA's SHA-256 fingerprint (32 bytes); the key id is the first 8 bytes of SHA-256 of the
/// proxy certificate's public key (DER SubjectPublicKeyInfo). The header is authenticated too (GCM
/// additional data), so a changed key id is refused as tampering even if it matched by chance.
public struct StateKey: Sendable {
    /// The file's first bytes.
    public static let magic = Array("PIERSTATE1".utf8)
    /// Which credentials wrote a file (8 bytes).
    public let keyID: [UInt8]
    // SymmetricKey is not Sendable on Linux: the derived bytes are kept instead.
    private let keyBytes: [UInt8]

    /// The key of the credentials' leaf (the proxy's; a controller has no state file).
    public init(credentials: CredentialFiles) {
        self.init(privateKey: credentials.privateKeyScalar, publicKeyDigest: credentials.publicKeyDigest,
                  caFingerprint: credentials.caFingerprintBytes)
    }

    init(privateKey: Data, publicKeyDigest: [UInt8], caFingerprint: [UInt8]) {
        keyID = Array(publicKeyDigest.prefix(8))
        let key = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: privateKey), salt: Array("pier-state-v1".utf8),
                                         info: caFingerprint, outputByteCount: 32)
        keyBytes = key.withUnsafeBytes { Array($0) }
    }

    /// The file's bytes for `payload`: header and sealed box, with a fresh random nonce.
    public func seal(_ payload: Data) throws -> Data {
        let header = Data(Self.magic + keyID)
        let box = try AES.GCM.seal(payload, using: SymmetricKey(data: keyBytes), authenticating: header)
        // A box sealed with the default 12-byte nonce always has a combined representation.
        return header + box.combined!
    }

    /// The payload of a file `seal` made with these credentials; throws `StateFileError` saying whether the
    /// file is no state file, was written with other credentials, or was changed or cut.
    public func open(_ file: Data) throws -> Data {
        let bytes = [UInt8](file)
        let headerLength = Self.magic.count + keyID.count
        guard bytes.count >= headerLength else {
            // A cut copy of a real file still starts with (part of) the magic.
            throw bytes.starts(with: Self.magic.prefix(bytes.count)) && !bytes.isEmpty ? StateFileError.damaged : StateFileError.notAStateFile
        }
        guard bytes.starts(with: Self.magic) else { throw StateFileError.notAStateFile }
        let fileKeyID = Array(bytes[Self.magic.count..<headerLength])
        guard fileKeyID == keyID else { throw StateFileError.otherCredentials(keyID: fileKeyID.hex, expected: keyID.hex) }
        do {
            let box = try AES.GCM.SealedBox(combined: bytes[headerLength...])
            return try AES.GCM.open(box, using: SymmetricKey(data: keyBytes), authenticating: bytes[..<headerLength])
        } catch {
            throw StateFileError.damaged
        }
    }
}

/// Why a state file was not used.
public enum StateFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// It does not start with `PIERSTATE1`.
    case notAStateFile
    /// Its key id is another's: written with other credentials (before a rotation); ignore and replace it.
    case otherCredentials(keyID: String, expected: String)
    /// Authentication failed: the file was changed or cut.
    case damaged
    /// Reading or writing the file failed.
    case io(path: String, reason: String)

    /// One line saying what is wrong.
    public var description: String {
        switch self {
        case .notAStateFile: return "not a Pier state file (no PIERSTATE1 header)"
        case .otherCredentials(let keyID, let expected):
            return "written with other credentials (key id \(keyID), these credentials' is \(expected)); it will be replaced"
        case .damaged: return "damaged: it fails authentication (changed or truncated)"
        case .io(let path, let reason): return "\(path): \(reason)"
        }
    }
}
