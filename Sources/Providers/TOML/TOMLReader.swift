/// A TOML 1.0 reader for Pier's configuration file, in Swift, over the file's UTF-8 bytes.
///
/// Pier used TOMLKit (toml++ behind a C interface) before, which never frees what it returns: the parsed
/// document, every key list and every string read from it. A watched file is parsed on every edit, so each
/// reload of a ten-service file left about 19 KiB behind (issue 13). This reader builds plain Swift values.
///
/// Whole documents only: the first error ends the parse with its line and column.
struct TOMLReader {
    /// Why a document is not valid TOML, and where (1-based line and column).
    struct ParseError: Error, Equatable, CustomStringConvertible {
        var reason: String
        var line: Int
        var column: Int
        var description: String { "\(reason) at line \(line), column \(column)" }
    }

    /// Parses a whole document.
    static func parse(_ text: String) throws(ParseError) -> TOMLTable {
        var reader = TOMLReader(bytes: Array(text.utf8))
        return try reader.document()
    }

    /// A table while the document is read: tables are reached again by later headers, hence a reference.
    final class Node {
        enum Origin {
            /// Created as the parent of a header or dotted key; a later header may still define it.
            case implicit
            /// Defined by its own `[header]` (or an element of `[[header]]`).
            case header
            /// Created by a dotted key (`a.b = 1`); no header may define it afterwards.
            case dotted
            /// An inline table `{ … }`: complete as written.
            case inline
        }

        enum Entry {
            case value(TOMLValue)
            case table(Node)
            /// `[[name]]` elements.
            case tables([Node])
        }

        var origin: Origin
        var entries: [String: Entry] = [:]

        init(_ origin: Origin) { self.origin = origin }

        var value: TOMLTable {
            TOMLTable(entries.mapValues { entry in
                switch entry {
                case .value(let v): return v
                case .table(let node): return .table(node.value)
                case .tables(let nodes): return .array(nodes.map { .table($0.value) })
                }
            })
        }
    }

    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    func peek(_ offset: Int) -> UInt8? { i + offset < bytes.count ? bytes[i + offset] : nil }

    func error(_ reason: String, at position: Int? = nil) -> ParseError {
        let end = min(position ?? i, bytes.count)
        var line = 1, column = 1
        for b in bytes[..<end] {
            if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
        }
        return ParseError(reason: reason, line: line, column: column)
    }

    mutating func document() throws(ParseError) -> TOMLTable {
        let root = Node(.header)
        var current = root
        // A byte order mark, as some Windows editors write one.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        while true {
            skipWhitespace()
            guard let b = peek else { break }
            switch b {
            case UInt8(ascii: "#"), 0x0A, 0x0D:
                try endOfLine()
            case UInt8(ascii: "["):
                current = try header(root)
                try endOfLine()
            default:
                try keyValue(into: current)
                try endOfLine()
            }
        }
        return root.value
    }

    mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x09 { i += 1 }
    }

    /// Whitespace, newlines and comments (inside arrays).
    mutating func skipBlank() throws(ParseError) {
        while let b = peek {
            if b == 0x20 || b == 0x09 || b == 0x0A {
                i += 1
            } else if b == 0x0D, peek(1) == 0x0A {
                i += 2
            } else if b == UInt8(ascii: "#") {
                try comment()
            } else {
                return
            }
        }
    }

    mutating func comment() throws(ParseError) {
        i += 1
        while let b = peek, b != 0x0A {
            if b == 0x0D, peek(1) == 0x0A { return }
            if b < 0x20 && b != 0x09 || b == 0x7F { throw error("control character in a comment") }
            i += 1
        }
    }

    /// Optional whitespace and comment, then a newline or the end.
    mutating func endOfLine() throws(ParseError) {
        skipWhitespace()
        if peek == UInt8(ascii: "#") { try comment() }
        guard let b = peek else { return }
        if b == 0x0A { i += 1; return }
        if b == 0x0D, peek(1) == 0x0A { i += 2; return }
        throw error("expected the end of the line")
    }

    /// `[a.b]` or `[[a.b]]`: the table that the following key/value pairs go into.
    mutating func header(_ root: Node) throws(ParseError) -> Node {
        let start = i
        let isArray = peek(1) == UInt8(ascii: "[")
        i += isArray ? 2 : 1
        skipWhitespace()
        let path = try key()
        skipWhitespace()
        for _ in 0..<(isArray ? 2 : 1) {
            guard peek == UInt8(ascii: "]") else { throw error(isArray ? "expected ']]' to end the table header" : "expected ']' to end the table header") }
            i += 1
        }
        var node = root
        for name in path.dropLast() {
            switch node.entries[name] {
            case nil:
                let next = Node(.implicit)
                node.entries[name] = .table(next)
                node = next
            case .table(let next) where next.origin != .inline:
                node = next
            case .tables(let elements):
                node = elements[elements.count - 1]
            default:
                throw error("key \"\(name)\" is not a table", at: start)
            }
        }
        let name = path[path.count - 1]
        let shown = path.joined(separator: ".")
        if isArray {
            let element = Node(.header)
            switch node.entries[name] {
            case nil: node.entries[name] = .tables([element])
            case .tables(let elements): node.entries[name] = .tables(elements + [element])
            default: throw error("[[\(shown)]] names a key that is not an array of tables", at: start)
            }
            return element
        }
        switch node.entries[name] {
        case nil:
            let table = Node(.header)
            node.entries[name] = .table(table)
            return table
        case .table(let table) where table.origin == .implicit:
            table.origin = .header
            return table
        default:
            throw error("table [\(shown)] is defined twice", at: start)
        }
    }

    /// `key = value` (the key may be dotted) into `table`.
    mutating func keyValue(into table: Node) throws(ParseError) {
        let start = i
        let path = try key()
        skipWhitespace()
        guard peek == UInt8(ascii: "=") else { throw error("expected '=' after the key") }
        i += 1
        skipWhitespace()
        let value = try self.value()
        var node = table
        for name in path.dropLast() {
            switch node.entries[name] {
            case nil:
                let next = Node(.dotted)
                node.entries[name] = .table(next)
                node = next
            case .table(let next) where next.origin == .dotted || next.origin == .implicit:
                node = next
            default:
                throw error("key \"\(path.joined(separator: "."))\" is defined twice", at: start)
            }
        }
        let name = path[path.count - 1]
        guard node.entries[name] == nil else { throw error("key \"\(path.joined(separator: "."))\" is defined twice", at: start) }
        node.entries[name] = .value(value)
    }

    /// A key: bare or quoted parts separated by dots.
    mutating func key() throws(ParseError) -> [String] {
        var parts: [String] = []
        while true {
            skipWhitespace()
            switch peek {
            case UInt8(ascii: "\""):
                parts.append(try basicString())
            case UInt8(ascii: "'"):
                parts.append(try literalString())
            default:
                let start = i
                while let b = peek, Self.isBareKey(b) { i += 1 }
                guard i > start else { throw error(peek == nil ? "expected a key" : "invalid character in a key") }
                parts.append(String(decoding: bytes[start..<i], as: UTF8.self))
            }
            skipWhitespace()
            guard peek == UInt8(ascii: ".") else { return parts }
            i += 1
        }
    }

    static func isBareKey(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2D
    }

    mutating func value() throws(ParseError) -> TOMLValue {
        switch peek {
        case nil, 0x0A, 0x0D, UInt8(ascii: "#"):
            throw error("expected a value")
        case UInt8(ascii: "\""):
            return .string(peek(1) == UInt8(ascii: "\"") && peek(2) == UInt8(ascii: "\"") ? try multilineString(literal: false) : try basicString())
        case UInt8(ascii: "'"):
            return .string(peek(1) == UInt8(ascii: "'") && peek(2) == UInt8(ascii: "'") ? try multilineString(literal: true) : try literalString())
        case UInt8(ascii: "["):
            return try array()
        case UInt8(ascii: "{"):
            return try inlineTable()
        default:
            return try scalar()
        }
    }

    mutating func array() throws(ParseError) -> TOMLValue {
        i += 1
        var values: [TOMLValue] = []
        while true {
            try skipBlank()
            if peek == UInt8(ascii: "]") { i += 1; return .array(values) }
            values.append(try value())
            try skipBlank()
            switch peek {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "]"): i += 1; return .array(values)
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    mutating func inlineTable() throws(ParseError) -> TOMLValue {
        i += 1
        let table = Node(.inline)
        skipWhitespace()
        if peek == UInt8(ascii: "}") { i += 1; return .table(table.value) }
        while true {
            try keyValue(into: table)
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): i += 1
            case UInt8(ascii: "}"): i += 1; return .table(table.value)
            default: throw error("expected ',' or '}' in an inline table")
            }
        }
    }
}
