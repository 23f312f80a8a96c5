/// A value of a TOML document, as plain Swift values: a parsed file holds no reference to anything but its own
/// strings, so it is freed with its last use (the configuration is read again on every edit of a watched file).
enum TOMLValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    /// An offset or local date-time, date or time, kept as written (Pier reads none).
    case dateTime(String)
    case array([TOMLValue])
    case table(TOMLTable)

    var string: String? { if case .string(let s) = self { s } else { nil } }
    var int: Int? { if case .integer(let n) = self { n } else { nil } }
    var bool: Bool? { if case .boolean(let b) = self { b } else { nil } }
    var array: [TOMLValue]? { if case .array(let a) = self { a } else { nil } }
    var table: TOMLTable? { if case .table(let t) = self { t } else { nil } }

    /// The value as TOML would spell it (for issues that quote a value of the wrong type).
    var description: String {
        switch self {
        case .string(let s): return "\"" + s.replacingQuotesAndBackslashes() + "\""
        case .integer(let n): return String(n)
        case .float(let d): return d.isNaN ? "nan" : d.isInfinite ? (d < 0 ? "-inf" : "inf") : String(d)
        case .boolean(let b): return b ? "true" : "false"
        case .dateTime(let text): return text
        case .array(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        case .table(let table): return "{" + table.map { "\($0.key) = \($0.value)" }.joined(separator: ", ") + "}"
        }
    }
}

/// A TOML table: keys and values, iterated in key order.
struct TOMLTable: Sendable, Equatable, Sequence {
    private(set) var values: [String: TOMLValue] = [:]

    init(_ values: [String: TOMLValue] = [:]) {
        self.values = values
    }

    /// The keys, sorted.
    var keys: [String] { values.keys.sorted() }

    subscript(key: String) -> TOMLValue? { values[key] }

    func makeIterator() -> some IteratorProtocol<(key: String, value: TOMLValue)> {
        keys.map { (key: $0, value: values[$0]!) }.makeIterator()
    }
}

extension String {
    fileprivate func replacingQuotesAndBackslashes() -> String {
        var out = ""
        for c in self {
            if c == "\"" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }
}
