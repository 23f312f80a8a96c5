import Foundation

/// What a proxy keeps of the last snapshot it applied, to serve it when it starts while no controller is
/// reachable: a JSON header line (version, controller, time) and the snapshot bytes exactly as received, so
/// that their hash is checked again when loaded. The state file seals this (`StateKey`).
public struct PersistedSnapshot: Sendable, Equatable {
    public var version: String
    public var controller: String
    /// Seconds since 1970.
    public var savedAt: Double
    public var payload: Data

    public init(version: String, controller: String, savedAt: Double, payload: Data) {
        self.version = version
        self.controller = controller
        self.savedAt = savedAt
        self.payload = payload
    }

    private struct Header: Codable {
        var version: String
        var controller: String
        var savedAt: Double
    }

    /// The bytes to seal.
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let header = try! encoder.encode(Header(version: version, controller: controller, savedAt: savedAt))
        return header + Data([0x0A]) + payload
    }

    /// Reads bytes made by `encoded()`.
    public init(decoding data: Data) throws {
        guard let newline = data.firstIndex(of: 0x0A),
              let header = try? JSONDecoder().decode(Header.self, from: data[data.startIndex..<newline])
        else { throw SnapshotError(description: "the state file holds no snapshot header") }
        self.init(version: header.version, controller: header.controller, savedAt: header.savedAt,
                  payload: Data(data[(newline + 1)...]))
    }
}
