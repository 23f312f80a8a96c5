import Crypto
import Foundation
import LabelConfig

/// Canonical JSON for snapshots and their content-addressed versions.
///
/// The payload is a pure function of the inputs (keys sorted, services, endpoints and certificates sorted, no
/// whitespace, nothing that differs between controller replicas: no name, time or generation), so that two
/// controllers reading the same engine send byte-identical payloads under the same version, and a proxy moving
/// between them reloads nothing.
public enum SnapshotCodec {
    /// Encodes `inputs`; returns the payload and its version.
    public static func encode(_ inputs: BuildInputs) -> (payload: Data, version: String) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings, numbers and arrays cannot fail.
        let payload = try! encoder.encode(SnapshotDocument(inputs))
        return (payload, version(of: payload))
    }

    /// `1-` and the first 32 hex digits of the payload's SHA-256.
    public static func version(of payload: Data) -> String {
        let digest = SHA256.hash(data: payload)
        return "1-" + digest.prefix(16).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Decodes a payload received as `version`: the version must be the payload's own hash.
    public static func decode(_ payload: Data, version: String) throws -> BuildInputs {
        let actual = self.version(of: payload)
        guard actual == version else {
            throw SnapshotError(description: "payload hash \(actual) does not match its version \(version)")
        }
        let document: SnapshotDocument
        do {
            document = try JSONDecoder().decode(SnapshotDocument.self, from: payload)
        } catch {
            throw SnapshotError(description: "snapshot does not decode: \(error)")
        }
        return try document.inputs()
    }
}
