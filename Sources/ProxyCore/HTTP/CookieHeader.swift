import NIOHTTP1

/// Reads one cookie out of a request's `Cookie` headers (RFC 6265 §5.4: `name=value` pairs separated by `; `,
/// possibly over several headers, as HTTP/2 clients send them).
enum CookieHeader {
    /// The value of the first cookie called `name` (case-sensitive, as cookie names are), without surrounding
    /// quotes; nil when there is none or it is empty.
    static func value(named name: String, in head: some HeadFields) -> String? {
        for header in head.values("cookie") {
            for pair in header.split(separator: ";") {
                let trimmed = pair.drop(while: { $0 == " " || $0 == "\t" })
                guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals].elementsEqual(name) else { continue }
                var value = trimmed[trimmed.index(after: equals)...]
                while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
                if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
                return value.isEmpty ? nil : String(value)
            }
        }
        return nil
    }
}
