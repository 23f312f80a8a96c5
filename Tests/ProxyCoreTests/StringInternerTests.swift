import RouteModel
import Testing

@testable import ProxyCore

/// The per-loop String interner: the same bytes give back the same String (no allocation), any bytes give
/// back exactly what decoding them gives.
struct StringInternerTests {
    static func string(_ interner: StringInterner, _ text: [UInt8]) -> String {
        text.withUnsafeBytes { interner.string($0) }
    }

    /// Where a String's UTF-8 lives: the same address means the same storage (nothing was allocated).
    static func storage(_ string: String) -> UnsafeRawPointer? {
        var string = string
        return string.withUTF8 { UnsafeRawPointer($0.baseAddress) }
    }

    @Test("the same bytes give back the same String, made once; other bytes their own")
    func sameBytesSameString() {
        let interner = StringInterner()
        let host = Array("host267.bench.test".utf8)
        let first = Self.string(interner, host)
        let again = Self.string(interner, host)
        #expect(first == "host267.bench.test" && again == first)
        #expect(Self.storage(first) == Self.storage(again))
        let other = Self.string(interner, Array("host268.bench.test".utf8))
        #expect(other == "host268.bench.test")
    }

    @Test("slots shared by different bytes: always the right String, the last one kept")
    func collisionsAreAnsweredRight() {
        let interner = StringInterner(slots: 1)
        let a = Array("/api/v1/users/1234".utf8), b = Array("/api/v1/users/5678".utf8)
        for _ in 0..<3 {
            #expect(Self.string(interner, a) == "/api/v1/users/1234")
            #expect(Self.string(interner, b) == "/api/v1/users/5678")
        }
        #expect(Self.storage(Self.string(interner, b)) == Self.storage(Self.string(interner, b)))
    }

    @Test("bytes that are not UTF-8 decode as String(decoding:) does, and are never taken for the String kept")
    func invalidUTF8IsDecodedEachTime() {
        let interner = StringInterner()
        let bytes: [UInt8] = Array("host-with-obs-text-".utf8) + [0xE9]
        let expected = String(decoding: bytes, as: UTF8.self)
        #expect(Self.string(interner, bytes) == expected)
        #expect(Self.string(interner, bytes) == expected)
        #expect(expected.hasSuffix("\u{FFFD}"))
    }

    @Test("short (inline) and over-long byte runs are decoded, not kept")
    func shortAndLongAreNotKept() {
        let interner = StringInterner(maxLength: 32)
        #expect(Self.string(interner, Array("app.test".utf8)) == "app.test")
        let long = Array(String(repeating: "x", count: 40).utf8)
        let first = Self.string(interner, long), second = Self.string(interner, long)
        #expect(first == second && first.utf8.count == 40)
        #expect(Self.storage(first) != Self.storage(second))
    }

    @Test("a Host with a port normalises to the same String each time; every value to what HostName.normalize gives",
          arguments: ["host267.bench.test:18943", "APP.Example.ORG:8443", "app.example.org.", "[::1]:8080", "a..b.test:1", "app.test", "x", "evil.test/x:1"])
    func hostNames(raw: String) {
        let interner = StringInterner()
        let first = interner.hostName(raw)
        let again = interner.hostName(String(decoding: Array(raw.utf8), as: UTF8.self))
        #expect(first == HostName.normalize(raw) && again == first)
        if first.utf8.count > 15 { #expect(Self.storage(first) == Self.storage(again), "made again") }
    }

    @Test("host values sharing a slot are each answered right")
    func hostNameCollisions() {
        let interner = StringInterner()
        let values = (0..<40).map { "service\($0).bench.test:\(8000 + $0)" }
        for _ in 0..<2 {
            for value in values { #expect(interner.hostName(value) == HostName.normalize(value)) }
        }
    }

    @Test("a value canonically equivalent to a kept one (U+212A KELVIN SIGN for K) gets its own answer, not the kept one's")
    func hostNamesAreComparedByBytes() {
        // One slot: the two values meet in it.
        let interner = StringInterner(hostSlots: 1)
        let ascii = "Kx.victim.test:1", kelvin = "\u{212A}x.victim.test:1"
        #expect(ascii == kelvin, "Swift's String equality holds here: the reason to compare bytes")
        #expect(interner.hostName(ascii) == "kx.victim.test")
        #expect(interner.hostName(kelvin) == HostName.normalize(kelvin))
        #expect(interner.hostName(kelvin) == "")
    }

    @Test("valid UTF-8 values are kept and given back; bytes that are not UTF-8 are nil, never kept or matched")
    func validStrings() {
        let interner = StringInterner(slots: 1)
        let date = Array("Sat, 05 Dec 2026 15:20:00 GMT".utf8)
        let first = date.withUnsafeBytes { interner.validString($0) }
        let again = date.withUnsafeBytes { interner.validString($0) }
        #expect(first == "Sat, 05 Dec 2026 15:20:00 GMT" && again == first)
        #expect(Self.storage(first!) == Self.storage(again!))
        var latin1 = Array("attachment; filename=caf".utf8)
        latin1.append(0xE9)
        #expect(latin1.withUnsafeBytes { interner.validString($0) } == nil)
        #expect(latin1.withUnsafeBytes { interner.validString($0) } == nil)
        // The slot still holds the date (nothing was kept for the invalid bytes).
        #expect(Self.storage(date.withUnsafeBytes { interner.validString($0) }!) == Self.storage(first!))
        #expect(Array("short".utf8).withUnsafeBytes { interner.validString($0) } == "short")
    }
}
