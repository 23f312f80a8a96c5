import Testing

@testable import Providers

/// Pier's own TOML reader (it replaced TOMLKit, which never freed a parsed document: issue 13).
@Suite("TOML reader")
struct TOMLReaderTests {
    func parse(_ text: String) throws -> TOMLTable { try TOMLReader.parse(text) }

    @Test func tablesArraysOfTablesAndDottedKeys() throws {
        let doc = try parse("""
            # comment
            title = "Pier" # trailing comment
            [Entrypoints]
            HTTP = "0.0.0.0:8080"

            [[Services]]
            Name = "a"
            Endpoints = [
              "127.0.0.1:1",   # first
              "127.0.0.1:2",
            ]
            [Services.Labels]
            "com.docker.lb.hosts" = "a.test"
            com.docker.lb.port = "80"

            [[Services]]
            Name = 'b'
            Labels = { "x.y" = "1", z.w = true }
            """)
        #expect(doc["title"] == .string("Pier"))
        #expect(doc["Entrypoints"]?.table?["HTTP"] == .string("0.0.0.0:8080"))
        let services = try #require(doc["Services"]?.array)
        #expect(services.count == 2)
        let a = try #require(services[0].table)
        #expect(a["Endpoints"] == .array([.string("127.0.0.1:1"), .string("127.0.0.1:2")]))
        let labels = try #require(a["Labels"]?.table)
        #expect(labels["com.docker.lb.hosts"] == .string("a.test"))
        #expect(labels["com"]?.table?["docker"]?.table?["lb"]?.table?["port"] == .string("80"))
        let b = try #require(services[1].table)
        #expect(b["Name"] == .string("b"))
        #expect(b["Labels"]?.table?["x.y"] == .string("1"))
        #expect(b["Labels"]?.table?["z"]?.table?["w"] == .boolean(true))
        #expect(doc.keys == ["Entrypoints", "Services", "title"])
    }

    @Test func byteOrderMarkAndWindowsLineEnds() throws {
        let doc = try parse("\u{FEFF}a = 1\r\n[t]\r\nb = \"x\" # c\r\n")
        #expect(doc["a"] == .integer(1))
        #expect(doc["t"]?.table?["b"] == .string("x"))
    }

    @Test("scalars", arguments: [
        ("42", TOMLValue.integer(42)), ("+7", .integer(7)), ("-3", .integer(-3)), ("1_000", .integer(1000)),
        ("0x1F", .integer(31)), ("0o17", .integer(15)), ("0b101", .integer(5)), ("0", .integer(0)),
        ("3.5", .float(3.5)), ("1e3", .float(1000)), ("-2.5E-1", .float(-0.25)), ("inf", .float(.infinity)),
        ("true", .boolean(true)), ("false", .boolean(false)),
        ("1979-05-27T07:32:00Z", .dateTime("1979-05-27T07:32:00Z")), ("1979-05-27 07:32:00", .dateTime("1979-05-27 07:32:00")),
        ("07:32:00", .dateTime("07:32:00")),
        (#""a\tb\n\"q\" \\ \u00e9 \U0001F600""#, .string("a\tb\n\"q\" \\ é 😀")),
        (#"'C:\path\no escapes'"#, .string(#"C:\path\no escapes"#)),
        ("\"\"\"\nline 1\nline 2 \\\n    joined\"\"\"", .string("line 1\nline 2 joined")),
        ("'''\nraw \\n ''text'''''", .string("raw \\n ''text''")),
        ("[1, [2, 3], \"x\"]", .array([.integer(1), .array([.integer(2), .integer(3)]), .string("x")])),
        ("{}", .table(TOMLTable())),
    ])
    func scalars(text: String, expected: TOMLValue) throws {
        #expect(try parse("v = \(text)")["v"] == expected)
    }

    @Test("invalid documents name the line and column", arguments: [
        ("a = 1\nb = \"open", 2, 5, "unterminated string"),
        ("a = 1\na = 2", 2, 1, "defined twice"),
        ("[t]\n[t]", 2, 1, "defined twice"),
        ("a = 1\n[a]", 2, 1, "defined twice"),
        ("a = 01", 1, 5, "invalid value 01"),
        ("a = 1_", 1, 5, "invalid value 1_"),
        ("a = \"\\q\"", 1, 6, "invalid escape"),
        ("a = [1, 2", 1, 10, "expected ',' or ']'"),
        ("a = 1 b = 2", 1, 7, "expected the end of the line"),
        ("a", 1, 2, "expected '='"),
        ("= 1", 1, 1, "invalid character in a key"),
        ("[[t]]\n[t]", 2, 1, "defined twice"),
        ("a = { b = 1 }\n[a]", 2, 1, "defined twice"),
        ("a = 99999999999999999999", 1, 5, "invalid value"),
    ])
    func errors(text: String, line: Int, column: Int, reason: String) {
        let error = #expect(throws: TOMLReader.ParseError.self) { try TOMLReader.parse(text) }
        #expect(error?.line == line && error?.column == column, "\(String(describing: error))")
        #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
    }

    @Test func configurationErrorsQuoteTheReader() {
        let (config, issues) = ConfigFileParser.parse("[Config]\nReadTimeout = \n")
        #expect(config == nil)
        #expect(issues.first?.reason == "configuration is not valid TOML: expected a value at line 2, column 15")
    }
}
