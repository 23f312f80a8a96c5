/// A strict parser of the Prometheus text exposition format 0.0.4, for tests that scrape `/metrics`: it
/// throws on anything a Prometheus server would reject or a careful exporter would not write (bad names,
/// unknown escapes, a TYPE after its samples, a family split in two, duplicate series, non-cumulative or
/// inconsistent histogram buckets, a missing final line feed).
public struct PrometheusExposition: Sendable {
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public struct Family: Sendable {
        public var name: String
        public var help: String?
        public var type: String?
        public var samples: [Sample] = []
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// Families in order of appearance.
    public private(set) var families: [Family] = []

    /// Every sample, in order.
    public var samples: [Sample] { families.flatMap(\.samples) }

    /// Parses `text`.
    public init(parsing text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else { throw ParseError(line: 0, reason: "does not end with a line feed") }
        var parser = Parser()
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            do { try parser.line(Substring(line)) } catch let reason as Reason { throw ParseError(line: number + 1, reason: reason.text) }
        }
        do { try parser.finish() } catch let reason as Reason { throw ParseError(line: 0, reason: reason.text) }
        families = parser.families
    }

    /// Each family's type, by family name.
    public var types: [String: String] { Dictionary(families.compactMap { f in f.type.map { (f.name, $0) } }, uniquingKeysWith: { a, _ in a }) }

    /// The family named `name`.
    public func family(_ name: String) -> Family? { families.first { $0.name == name } }

    /// The value of the sample `name` with exactly `labels`; nil when there is none.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The sum of the samples `name` whose labels include `matching`.
    public func sum(_ name: String, matching: [String: String] = [:]) -> Double {
        samples.filter { sample in sample.name == name && matching.allSatisfy { k, v in sample.labels[k] == v } }.reduce(0) { $0 + $1.value }
    }
}

private struct Parser {
    var families: [PrometheusExposition.Family] = []
    var closed: Set<String> = []
    var series: Set<String> = []

    static let types: Set<String> = ["counter", "gauge", "histogram", "summary", "untyped"]

    mutating func line(_ line: Substring) throws {
        if line.isEmpty { return }
        if line.hasPrefix("#") {
            let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count >= 3, parts[0] == "#", parts[1] == "HELP" || parts[1] == "TYPE" else { return }  // a comment
            let name = String(parts[2])
            guard Self.isMetricName(name) else { throw Reason("bad metric name \(name)") }
            let rest = parts.count > 3 ? parts[3] : ""
            var family = try open(name)
            if parts[1] == "HELP" {
                guard family.help == nil else { throw Reason("second HELP for \(name)") }
                family.help = try Self.unescape(rest, quotes: false)
            } else {
                guard family.type == nil else { throw Reason("second TYPE for \(name)") }
                guard family.samples.isEmpty else { throw Reason("TYPE after samples of \(name)") }
                guard Self.types.contains(String(rest)) else { throw Reason("unknown type \(rest)") }
                family.type = String(rest)
            }
            families[families.count - 1] = family
            return
        }
        let sample = try Self.sample(line)
        let familyName = familyName(of: sample.name)
        var family = try open(familyName)
        if family.type == "histogram" {
            guard sample.name != familyName else { throw Reason("histogram sample \(sample.name) without _bucket/_sum/_count") }
            if sample.name.hasSuffix("_bucket") {
                guard let le = sample.labels["le"], le == "+Inf" || Double(le) != nil else { throw Reason("bucket without a valid le") }
            }
        }
        let identity = sample.name + "{" + sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
        guard series.insert(identity).inserted else { throw Reason("duplicate series \(identity)") }
        family.samples.append(sample)
        families[families.count - 1] = family
    }

    /// The family a sample belongs to: a histogram or summary family its suffix names, else its own name.
    func familyName(of name: String) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if let family = families.last(where: { $0.name == base }), family.type == "histogram" || family.type == "summary" { return base }
        }
        return name
    }

    /// The current family if it is `name`, else a new one; a family that was left cannot come back.
    mutating func open(_ name: String) throws -> PrometheusExposition.Family {
        if let last = families.last, last.name == name { return last }
        if let last = families.last { closed.insert(last.name) }
        guard !closed.contains(name) else { throw Reason("family \(name) appears twice") }
        families.append(.init(name: name))
        return families[families.count - 1]
    }

    func finish() throws {
        for family in families where family.type == "histogram" {
            var groups: [[String: String]: [(Double, Double)]] = [:]
            var counts: [[String: String]: Double] = [:]
            for sample in family.samples {
                var labels = sample.labels
                if sample.name == family.name + "_bucket" {
                    let le = labels.removeValue(forKey: "le")!
                    groups[labels, default: []].append((le == "+Inf" ? .infinity : Double(le)!, sample.value))
                } else if sample.name == family.name + "_count" {
                    counts[labels] = sample.value
                }
            }
            for (labels, buckets) in groups {
                guard buckets.map(\.0) == buckets.map(\.0).sorted(), buckets.last?.0 == .infinity else {
                    throw Reason("\(family.name) \(labels): buckets out of order or no +Inf")
                }
                guard buckets.map(\.1) == buckets.map(\.1).sorted() else { throw Reason("\(family.name) \(labels): buckets not cumulative") }
                guard counts[labels] == buckets.last!.1 else { throw Reason("\(family.name) \(labels): _count differs from the +Inf bucket") }
            }
        }
    }

    static func sample(_ line: Substring) throws -> PrometheusExposition.Sample {
        var rest = line[...]
        let name = String(rest.prefix { $0 != "{" && $0 != " " })
        guard isMetricName(name) else { throw Reason("bad metric name \(name)") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let label = String(rest.prefix { $0 != "=" })
                guard isLabelName(label) else { throw Reason("bad label name \(label)") }
                rest = rest.dropFirst(label.count)
                guard rest.hasPrefix("=\"") else { throw Reason("label \(label) without =\"") }
                rest = rest.dropFirst(2)
                var raw = ""
                var escaped = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if escaped { raw.append("\\"); raw.append(c); escaped = false; continue }
                    if c == "\\" { escaped = true; continue }
                    if c == "\"" { break }
                    raw.append(c)
                }
                guard labels.updateValue(try unescape(Substring(raw), quotes: true), forKey: label) == nil else { throw Reason("label \(label) twice") }
                if rest.first == "," { rest = rest.dropFirst() } else if rest.first != "}" { throw Reason("expected , or } after label \(label)") }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw Reason("no space before the value") }
        let fields = rest.dropFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 1 || (fields.count == 2 && Int64(fields[1]) != nil) else { throw Reason("bad value or timestamp: \(rest)") }
        let value: Double
        switch fields[0] {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let parsed = Double(fields[0]), parsed.isFinite else { throw Reason("bad value \(fields[0])") }
            value = parsed
        }
        return .init(name: name, labels: labels, value: value)
    }

    /// `\\`, `\n` and (in label values) `\"`; any other escape is an error.
    static func unescape(_ text: Substring, quotes: Bool) throws -> String {
        var out = ""
        var escaped = false
        for c in text {
            if escaped {
                switch c {
                case "\\": out.append("\\")
                case "n": out.append("\n")
                case "\"" where quotes: out.append("\"")
                default: throw Reason("unknown escape \\\(c)")
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                if c == "\n" || (quotes && c == "\"") { throw Reason(c == "\n" ? "unescaped line feed" : "unescaped quote") }
                out.append(c)
            }
        }
        guard !escaped else { throw Reason("dangling backslash") }
        return out
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_" || first == ":" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" || $0 == ":" }
    }

    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" }
    }
}

/// Why a line is rejected.
private struct Reason: Error {
    var text: String
    init(_ text: String) { self.text = text }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
