@testable import RouteModel
import Testing

@Suite("Stable hashing")
struct StableHashTests {
    @Test(
        "FNV-1a 64 matches the reference vectors",
        arguments: [
            ("", 0xCBF2_9CE4_8422_2325),
            ("a", 0xAF63_DC4C_8601_EC8C),
            ("foobar", 0x85944171F73967E8),
        ] as [(String, UInt64)])
    func fnv(text: String, expected: UInt64) {
        #expect(StableHash.fnv1a(text.utf8) == expected)
    }

    @Test("splitmix64 matches the reference first outputs of seed 0")
    func splitmix() {
        // splitmix64 with state 0 yields mix(0), then mix(golden ratio), …
        #expect(StableHash.mix(0) == 0xE220_A839_7B1D_CDAF)
        #expect(StableHash.mix(0x9E37_79B9_7F4A_7C15) == 0x6E78_9E6A_A1B9_65F4)
    }

    @Test(
        "the libm-free logarithm is accurate to a few units in the last place",
        arguments: [
            (1e-16, -36.841361487904734), (1e-9, -20.72326583694641), (0.001, -6.907755278982137),
            (0.1, -2.3025850929940455), (0.25, -1.3862943611198906), (0.5, -0.6931471805599453),
            (0.7, -0.35667494393873245), (0.999999, -1.000000500029089e-06), (1, 0), (1.5, 0.4054651081081644),
            (2, 0.6931471805599453), (10, 2.302585092994046), (12345.678, 9.421061321291832),
        ] as [(Double, Double)])
    func log(x: Double, expected: Double) {
        // Expected values from libm (Python's math.log); near 1 the error is absolute (x = m · 2^e cancels).
        #expect(abs(StableHash.log(x) - expected) <= 4 * max(abs(expected), 1).ulp, "\(StableHash.log(x)) vs \(expected)")
    }

    @Test("unit maps hashes into the open interval (0, 1)")
    func unit() {
        #expect(StableHash.unit(0) > 0)
        #expect(StableHash.unit(UInt64.max) < 1)
    }
}
