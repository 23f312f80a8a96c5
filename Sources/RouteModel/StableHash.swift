/// Hashing that gives the same result in every process and on every run, unlike `Hasher`, which is seeded
/// randomly per process: sticky sessions must send a key to the same endpoint from every event loop and every
/// Pier replica, before and after a restart.
enum StableHash {
    /// FNV-1a (64 bit) of `bytes`, continuing from `state`.
    static func fnv1a<Bytes: Sequence<UInt8>>(_ bytes: Bytes, state: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
        var hash = state
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// The splitmix64 finalizer: every input bit affects every output bit (FNV alone mixes its last bytes poorly).
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The hash of an affinity key (a cookie value, a client address).
    static func key(_ key: String) -> UInt64 {
        mix(fnv1a(key.utf8))
    }

    /// The hash of an endpoint: its host's bytes, a separator, then its port.
    static func endpoint(_ endpoint: Endpoint) -> UInt64 {
        var hash = fnv1a(endpoint.host.utf8)
        hash = fnv1a(CollectionOfOne(UInt8(ascii: "|")), state: hash)
        var port = UInt64(truncatingIfNeeded: endpoint.port)
        for _ in 0..<2 {
            hash = fnv1a(CollectionOfOne(UInt8(truncatingIfNeeded: port)), state: hash)
            port >>= 8
        }
        return mix(hash)
    }

    /// The rendezvous hash of a (key, endpoint) pair.
    static func pair(key: UInt64, endpoint: UInt64) -> UInt64 {
        mix(key ^ mix(endpoint &+ 0x632B_E59B_D9B4_E019))
    }

    /// `hash` as a number in the open interval (0, 1) (52 bits, so that the largest stays below 1 exactly).
    static func unit(_ hash: UInt64) -> Double {
        (Double(hash >> 12) + 0.5) * 0x1p-52
    }

    /// Natural logarithm of a positive finite `x`, from IEEE operations only (no libm: the same bits on every
    /// platform). `x = m · 2^e` with m in [1, 2); ln m = 2 atanh((m − 1)/(m + 1)), whose series converges fast.
    static func log(_ x: Double) -> Double {
        let e = Double(x.exponent)
        let m = x.significand
        let s = (m - 1) / (m + 1)
        let s2 = s * s
        var term = s
        var sum = 0.0
        var n = 1.0
        // s ≤ 1/3, so each term shrinks by at least 9: 20 terms are below double precision.
        for _ in 0..<20 {
            sum += term / n
            term *= s2
            n += 2
        }
        return e * 0.693_147_180_559_945_3 + 2 * sum
    }
}
