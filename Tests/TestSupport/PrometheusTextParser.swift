/// A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: every line must be a
/// comment, a `# HELP`/`# TYPE` line or a sample; a family is declared once, before its samples, and its samples
/// are not interleaved with another family's. Anything else throws, with the line.
public struct PrometheusText: Sendable {
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var line: String
        public var reason: String
        public var description: String { "\(reason): \(line)" }
    }

    /// Every sample, in order.
    public private(set) var samples: [Sample] = []
    /// Declared types by family name.
    public private(set) var types: [String: String] = [:]
    /// Help texts by family name.
    public private(set) var help: [String: String] = [:]

    /// The samples of `name` whose labels include `labels`.
    public func values(_ name: String, _ labels: [String: String] = [:]) -> [Double] {
        samples.filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }.map(\.value)
    }

    /// The one sample of `name` with `labels`, nil when there is none or several.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let found = values(name, labels)
        return found.count == 1 ? found[0] : nil
    }

    public init(parsing text: String) throws {
        var finished: Set<String> = []
        var current: String?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
                guard parts.count >= 3, parts[1] == "HELP" || parts[1] == "TYPE" else { continue }
                let name = parts[2]
                guard Self.isMetricName(name) else { throw ParseError(line: line, reason: "bad metric name") }
                if parts[1] == "TYPE" {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                        throw ParseError(line: line, reason: "bad type")
                    }
                    guard types[name] == nil else { throw ParseError(line: line, reason: "family declared twice") }
                    guard !samples.contains(where: { Self.family(of: $0.name, types: types) == name }) else {
                        throw ParseError(line: line, reason: "TYPE after samples")
                    }
                    types[name] = parts[3]
                } else {
                    guard help[name] == nil else { throw ParseError(line: line, reason: "HELP given twice") }
                    help[name] = parts.count == 4 ? parts[3] : ""
                }
                continue
            }
            let sample = try Self.sample(line)
            let family = Self.family(of: sample.name, types: types)
            if family != current {
                if let current { finished.insert(current) }
                guard !finished.contains(family) else { throw ParseError(line: line, reason: "family \(family) interleaved") }
                current = family
            }
            samples.append(sample)
        }
    }

    /// A histogram's `_bucket`, `_sum` and `_count` belong to its family.
    static func family(of name: String, types: [String: String]) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" || types[base] == "summary" { return base }
        }
        return name
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first == ":" || first.properties.isAlphabetic && first.isASCII else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0 == ":" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }

    static func sample(_ line: String) throws -> Sample {
        var rest = Substring(line)
        let name = String(rest.prefix { $0 != "{" && $0 != " " })
        guard isMetricName(name) else { throw ParseError(line: line, reason: "bad metric name") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let key = String(rest.prefix { $0 != "=" })
                guard isMetricName(key), !key.contains(":") else { throw ParseError(line: line, reason: "bad label name") }
                rest = rest.dropFirst(key.count)
                guard rest.hasPrefix("=\"") else { throw ParseError(line: line, reason: "label without a quoted value") }
                rest = rest.dropFirst(2)
                var value = ""
                while true {
                    guard let c = rest.first else { throw ParseError(line: line, reason: "unterminated label value") }
                    rest = rest.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        guard let escaped = rest.first else { throw ParseError(line: line, reason: "bad escape") }
                        rest = rest.dropFirst()
                        switch escaped {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw ParseError(line: line, reason: "bad escape")
                        }
                    } else {
                        value.append(c)
                    }
                }
                guard labels[key] == nil else { throw ParseError(line: line, reason: "label given twice") }
                labels[key] = value
                if rest.first == "," { rest = rest.dropFirst() } else if rest.first != "}" { throw ParseError(line: line, reason: "expected , or }") }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw ParseError(line: line, reason: "no value") }
        let fields = rest.split(separator: " ")
        guard (1...2).contains(fields.count) else { throw ParseError(line: line, reason: "bad value") }
        let value: Double
        switch fields[0] {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let number = Double(fields[0]) else { throw ParseError(line: line, reason: "bad value") }
            value = number
        }
        if fields.count == 2, Int64(fields[1]) == nil { throw ParseError(line: line, reason: "bad timestamp") }
        return Sample(name: name, labels: labels, value: value)
    }
}
