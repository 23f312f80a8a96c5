/// The byte classes of RFC 9110/9112's grammar, as bit tests (no table to load, no bounds check).
enum ByteClass {
    // Bit n of `tcharLow` is byte n (0–63), of `tcharHigh` byte 64 + n: `!#$%&'*+-.^_`|~`, digits, letters.
    private static let tcharLow: UInt64 = 0x03ff_6cfa_0000_0000
    private static let tcharHigh: UInt64 = 0x57ff_ffff_c7ff_fffe

    /// `tchar` (RFC 9110 §5.6.2): the bytes of a token (method, field name, transfer coding).
    @inline(__always)
    static func isTokenByte(_ c: UInt8) -> Bool {
        if c < 64 { return (tcharLow >> UInt64(c)) & 1 == 1 }
        if c < 128 { return (tcharHigh >> UInt64(c &- 64)) & 1 == 1 }
        return false
    }

    /// `field-vchar` plus the spaces allowed inside a value: HTAB, SP, VCHAR and obs-text; never NUL, CR, LF,
    /// another control or DEL (RFC 9110 §5.5).
    @inline(__always)
    static func isFieldValueByte(_ c: UInt8) -> Bool {
        c == 0x09 || (c >= 0x20 && c != 0x7F)
    }

    /// A byte of a request target: visible ASCII only (RFC 9112 §3.2; RFC 3986 has no other), so neither
    /// whitespace, controls nor raw bytes above 0x7E, which another hop could decode differently.
    @inline(__always)
    static func isTargetByte(_ c: UInt8) -> Bool {
        c >= 0x21 && c <= 0x7E
    }

    /// A byte of an authority as llhttp reads one (RFC 3986's userinfo and host bytes but `@`): letters,
    /// digits, `!$%&'()*+,-.:;=[]_~`.
    @inline(__always)
    static func isAuthorityByte(_ c: UInt8) -> Bool {
        switch c {
        case 0x21, 0x24...0x2E, 0x30...0x3B, 0x3D, 0x41...0x5B, 0x5D, 0x5F, 0x61...0x7A, 0x7E: return true
        default: return false
        }
    }

    @inline(__always)
    static func isAlpha(_ c: UInt8) -> Bool {
        (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A
    }

    @inline(__always)
    static func isDigit(_ c: UInt8) -> Bool {
        c >= 0x30 && c <= 0x39
    }

    /// The value of a hexadecimal digit, or nil.
    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c &- 0x30
        case 0x41...0x46: return c &- 0x41 &+ 10
        case 0x61...0x66: return c &- 0x61 &+ 10
        default: return nil
        }
    }

    /// ASCII lower case of a byte (field names and codings compare case-insensitively).
    @inline(__always)
    static func lower(_ c: UInt8) -> UInt8 {
        c >= 0x41 && c <= 0x5A ? c | 0x20 : c
    }
}
