import LabelConfig
import RouteModel

/// Shorthands for the label tests.
enum Fixture {
    /// A service with `labels` and endpoints written as `ip` or `ip:port`.
    static func service(_ name: String, _ labels: [String: String], _ endpoints: [String] = ["10.0.0.1"]) -> ServiceDescription {
        ServiceDescription(name: name, labels: labels, endpoints: endpoints.map { ServiceDescription.Address(parsing: $0)! })
    }

    /// `com.docker.lb.` + key.
    static func label(_ key: String) -> String { LabelKey.prefix + key }

    /// Labels from `key=value` pairs without the prefix, e.g. `lb(["hosts": "a.org", "port": "80"])`.
    static func lb(_ pairs: [String: String]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: pairs.map { (LabelKey.prefix + $0.key, $0.value) })
    }
}

extension RouteDecision {
    /// One line for expectations: `forward v1+v2 /x`, `301 /app/`, `302 http://new.local/p`, `404`, `503`.
    var summary: String {
        switch self {
        case .forward(_, let pool, let target):
            return "forward \(pool.services.joined(separator: "+")) \(target)"
        case .redirect(let location, let status):
            return "\(status) \(location)"
        case .redirectToHTTPS(let host, let target):
            return "https \(host)\(target)"
        case .notFound:
            return "404"
        case .noRoute:
            return "503"
        }
    }
}
