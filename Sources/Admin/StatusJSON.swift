import Foundation

/// The admin entrypoint's JSON: sorted keys, so that a document reads (and diffs) the same every time.
public enum StatusJSON {
    /// `value` as JSON text.
    public static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "{}"
    }

    /// Decodes a status document (`pier status`, tests).
    public static func decode(_ text: String) throws -> StatusDocument {
        try JSONDecoder().decode(StatusDocument.self, from: Data(text.utf8))
    }
}
