import LabelConfig
import Testing

@Suite("Value syntax")
struct ValueSyntaxTests {
    @Test(
        "nginx durations: bare seconds, ms s m h d, several parts",
        arguments: [
            ("10", Duration.seconds(10)),
            ("10s", .seconds(10)),
            (" 10s ", .seconds(10)),
            ("500ms", .milliseconds(500)),
            ("2m", .seconds(120)),
            ("1h", .seconds(3600)),
            ("1d", .seconds(86400)),
            ("1m30s", .seconds(90)),
            ("1h1m1s1ms", .milliseconds(3_661_001)),
            ("0", .zero),
            ("0s", .zero),
        ] as [(String, Duration)])
    func duration(text: String, expected: Duration) {
        #expect(ValueSyntax.duration(text) == expected)
    }

    @Test(
        "malformed durations are nil",
        arguments: [
            "", " ", "s", "ms", "10x", "10S", "1.5s", "-1s", "+1s", "10 s", "10s 5s", "1s-", "1y", "1w",
            "1000000000000s", "\u{0661}s",
        ])
    func badDuration(text: String) {
        #expect(ValueSyntax.duration(text) == nil)
    }

    @Test(
        "durations print back in the syntax they are read in",
        arguments: ["10s", "0s", "90s", "500ms", "1500ms"])
    func durationText(text: String) throws {
        #expect(ValueSyntax.text(try #require(ValueSyntax.duration(text))) == text)
    }

    @Test("a huge duration is nil, not a trap")
    func hugeDuration() {
        #expect(ValueSyntax.duration(String(repeating: "999999999999d", count: 3000)) == nil)
        #expect(ValueSyntax.duration("999999999999d") == .seconds(999_999_999_999 * 86400))
    }

    @Test(
        "nginx sizes: bytes, k, m, g (binary, any case)",
        arguments: [
            ("0", Int64(0)), ("1024", 1024), ("1k", 1024), ("1K", 1024), ("32m", 32 * 1024 * 1024), ("32M", 32 * 1024 * 1024),
            ("2g", 2 * 1024 * 1024 * 1024), (" 8k ", 8192), ("999999999999m", 999_999_999_999 * 1024 * 1024),
        ] as [(String, Int64)])
    func size(text: String, expected: Int64) {
        #expect(ValueSyntax.size(text) == expected)
    }

    @Test(
        "malformed or overflowing sizes are nil",
        arguments: ["", "k", "1.5m", "-1", "1kb", "1t", "1 k", "0x10", "1000000000000", "999999999999g", "9999999999g"])
    func badSize(text: String) {
        #expect(ValueSyntax.size(text) == nil)
    }

    @Test(
        "booleans: Go's strconv.ParseBool set only",
        arguments: [
            ("1", true as Bool?), ("t", true), ("T", true), ("TRUE", true), ("true", true), ("True", true), (" true\n", true),
            ("0", false), ("f", false), ("F", false), ("FALSE", false), ("false", false), ("False", false),
            ("yes", nil), ("no", nil), ("on", nil), ("off", nil), ("tRUE", nil), ("", nil), ("2", nil), ("truee", nil),
        ] as [(String, Bool?)])
    func bool(text: String, expected: Bool?) {
        #expect(ValueSyntax.bool(text) == expected)
    }

    @Test(
        "lists: split, trimmed, empty items dropped",
        arguments: [
            ("a,b", [",", "a", "b"]),
            (" a , b ,, ", [",", "a", "b"]),
            ("", [","]),
            ("a;b;", [";", "a", "b"]),
            ("x,y;z", [";", "x,y", "z"]),
        ] as [(String, [String])])
    func list(text: String, separatorAndItems: [String]) {
        let separator = separatorAndItems[0].unicodeScalars.first!
        #expect(ValueSyntax.list(text, separator: separator) == Array(separatorAndItems.dropFirst()))
    }
}

@Suite("Endpoint addresses")
struct AddressTests {
    @Test(
        "host, host:port, [v6], [v6]:port",
        arguments: [
            ("10.0.1.3", "10.0.1.3", nil as Int?),
            ("10.0.1.3:8080", "10.0.1.3", 8080),
            (" web:80 ", "web", 80),
            ("backend-1.local", "backend-1.local", nil),
            ("my_task.1", "my_task.1", nil),
            ("[::1]", "::1", nil),
            ("[::1]:8080", "::1", 8080),
            ("[2001:db8::5]:443", "2001:db8::5", 443),
        ] as [(String, String, Int?)])
    func parse(text: String, host: String, port: Int?) throws {
        let address = try #require(ServiceDescription.Address(parsing: text))
        #expect(address.host == host)
        #expect(address.port == port)
    }

    @Test(
        "malformed addresses are nil",
        arguments: [
            "", " ", ":80", "web:", "web:0", "web:65536", "web:80x", "::1", "1:2:3", "[::1", "[]", "[]:80", "[::1]80",
            "[::1]:", "[::1]:x", "a b", "a/b", "a@b:80", "http://a",
        ])
    func malformed(text: String) {
        #expect(ServiceDescription.Address(parsing: text) == nil)
    }

    @Test(
        "addresses print back in the same syntax",
        arguments: ["10.0.1.3", "10.0.1.3:8080", "[::1]", "[::1]:80", "web"])
    func description(text: String) throws {
        #expect(try #require(ServiceDescription.Address(parsing: text)).description == text)
    }
}
