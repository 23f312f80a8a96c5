import Foundation
import LabelConfig

/// The query of `/api/explain`: `pier explain`'s options as parameters (`url`, `method`, `host`, `path`,
/// `https=1`, `sni`), percent-encoded. Both sides use it: the admin entrypoint reads it, `pier explain --admin`
/// writes it, so the two cannot drift. Pure.
public enum ExplainQuery {
    /// Why a query does not describe a request (the 400's reason).
    public struct Problem: Error, Sendable, Equatable {
        public var reason: String
    }

    /// The parameters, in the order `encode` writes them.
    static let names = ["url", "method", "host", "path", "https", "sni"]

    /// The request `query` (without its `?`) describes, as `pier explain` builds it from the same options.
    /// `+` stays a plus sign: only percent-escapes are decoded. The HTTPS port is the caller's to set.
    public static func request(_ query: String) -> Result<ExplainRequest, Problem> {
        var values: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let nameAndValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = String(nameAndValue[0]).removingPercentEncoding,
                  let value = String(nameAndValue.count > 1 ? nameAndValue[1] : "").removingPercentEncoding else {
                return .failure(Problem(reason: "bad percent-encoding in \"\(pair)\""))
            }
            guard names.contains(name) else {
                return .failure(Problem(reason: "unknown parameter \"\(name)\" (known: \(names.joined(separator: ", ")))"))
            }
            guard values.updateValue(value, forKey: name) == nil else { return .failure(Problem(reason: "\(name) given twice")) }
        }
        let method = (values["method"] ?? "GET").uppercased()
        if method.isEmpty || !method.allSatisfy({ $0.isLetter || $0 == "-" }) {
            return .failure(Problem(reason: "method must be a method name such as GET"))
        }
        let https: Bool
        switch values["https"] {
        case nil, "0", "false": https = false
        case "1", "true": https = true
        case let other?: return .failure(Problem(reason: "https must be 1 or 0, not \"\(other)\""))
        }
        let base: ExplainRequest
        if let url = values["url"] {
            guard let parsed = ExplainRequest(url: url, method: method) else {
                return .failure(Problem(reason: "url \"\(url)\" is not an http:// or https:// URL with a host"))
            }
            base = parsed
        } else if let host = values["host"] {
            base = ExplainRequest(method: method, host: host)
        } else {
            return .failure(Problem(reason: "give url=http://host/path or host=NAME"))
        }
        return .success(base.replacing(host: values["host"], path: values["path"], https: https, serverName: values["sni"]))
    }

    /// The query (without `?`) for `pier explain`'s options; nil options are left out.
    public static func encode(url: String?, method: String, host: String?, path: String?, https: Bool, sni: String?) -> String {
        let values = [url, method, host, path, https ? "1" : nil, sni]
        return zip(names, values).compactMap { name, value in
            value.map { "\(name)=\($0.addingPercentEncoding(withAllowedCharacters: unreserved) ?? $0)" }
        }.joined(separator: "&")
    }

    /// RFC 3986's unreserved characters: everything else is escaped, so `&`, `=`, `+`, `#` and `%` survive.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// The explanation as JSON, keys sorted: what `/api/explain` answers and `pier explain --json` prints.
    public static func json(_ explanation: Explanation) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Plain strings, numbers and booleans: encoding cannot fail.
        return (try? encoder.encode(explanation)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// An explanation from `/api/explain`'s JSON.
    public static func decode(_ text: String) throws -> Explanation {
        try JSONDecoder().decode(Explanation.self, from: Data(text.utf8))
    }
}
