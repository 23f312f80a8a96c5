import RouteModel

/// Strings made from bytes that recur, made once: the `Host` of a keep-alive connection's requests, the paths
/// a client asks again and again. A String of more than 15 UTF-8 bytes lives on the heap, so reading such a
/// field as a String costs an allocation per request; the same bytes again give back the String made for them
/// the first time.
///
/// A fixed table of slots, picked by a hash of the bytes; a slot holds the last String made for bytes that
/// hashed to it (a miss replaces it). Memory is bounded by `slots × maxLength`, and the answer is always
/// `String(decoding: bytes, as: UTF8.self)`: a hit is checked byte for byte against the String's own UTF-8,
/// so bytes that are not UTF-8 (decoded with U+FFFD) never hit, they are decoded each time.
///
/// One per event loop, used on it only (not Sendable).
final class StringInterner {
    private var slots: [String?]
    /// Host values that are not normal, with their normal form.
    private var hosts: [(raw: String, name: String)?]
    private let mask: Int
    private let maxLength: Int

    /// - Parameters:
    ///   - slots: how many Strings are kept (rounded up to a power of two).
    ///   - maxLength: longer byte runs are decoded every time and never kept.
    ///   - hostSlots: how many non-normal Host values are kept with their normal form (a power of two).
    init(slots: Int = 64, maxLength: Int = 256, hostSlots: Int = 16) {
        precondition(hostSlots > 0 && hostSlots & (hostSlots - 1) == 0, "a power of two")
        hosts = Array(repeating: nil, count: hostSlots)
        var count = 1
        while count < slots { count <<= 1 }
        self.slots = Array(repeating: nil, count: count)
        self.mask = count - 1
        self.maxLength = maxLength
    }

    /// The String of these bytes, decoded (bytes that are not UTF-8 become U+FFFD, and are not kept: their
    /// String could never match them again).
    func string(_ bytes: UnsafeRawBufferPointer) -> String {
        validString(bytes) ?? String(decoding: bytes, as: UTF8.self)
    }

    /// The String of these bytes when they are UTF-8, nil when they are not (a value that must be relayed
    /// unchanged or refused). A kept String's bytes are UTF-8, so a hit needs no validation.
    func validString(_ bytes: UnsafeRawBufferPointer) -> String? {
        // Short Strings are stored inline: nothing to save.
        guard bytes.count > 15, bytes.count <= maxLength else { return String(validating: bytes, as: UTF8.self) }
        let index = Self.hash(bytes) & mask
        if let kept = slots[index], Self.equal(kept, bytes) { return kept }
        guard let made = String(validating: bytes, as: UTF8.self) else { return nil }
        slots[index] = made
        return made
    }

    /// The normal form of a `Host` value (`HostName.normalize`), the String made before for the same value
    /// when this interner kept one. A Host with a port (`app.example.org:8443`, what clients send to any
    /// port but the scheme's default) normalises to a new String: one allocation per request, which this
    /// saves for the values that recur. An already-normal value is its own answer, kept nowhere.
    func hostName(_ raw: String) -> String {
        if HostName.isNormal(raw) { return raw }
        var raw = raw
        let index = raw.withUTF8 { Self.hash(UnsafeRawBufferPointer($0)) } & (hosts.count - 1)
        // Compared byte for byte: String's == holds for canonically equivalent values (U+212A KELVIN SIGN is
        // "K"), and a value normalize refuses must never get the answer of one it accepts.
        if let kept = hosts[index], kept.raw.utf8.elementsEqual(raw.utf8) { return kept.name }
        let name = HostName.normalize(raw)
        // Long values are not kept (as in `string`): they would pin memory for nothing.
        if raw.utf8.count <= maxLength { hosts[index] = (raw, name) }
        return name
    }

    /// FNV-1a over the bytes: cheap, and spreads host names that differ in one digit.
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return Int(truncatingIfNeeded: hash ^ (hash >> 32))
    }

    private static func equal(_ string: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var string = string
        return string.withUTF8 { utf8 in
            utf8.count == bytes.count && UnsafeRawBufferPointer(utf8).elementsEqual(bytes)
        }
    }
}
