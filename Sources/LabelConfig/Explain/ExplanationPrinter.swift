/// Renders an explanation for people (`pier explain`): the request, then one labelled line per step, then the
/// near misses as aligned `subject  reason` rows.
public enum ExplanationPrinter {
    /// The explanation as text, ending in a newline.
    public static func render(_ explanation: Explanation) -> String {
        let request = explanation.request
        var head = "\(request.method) \(request.entrypoint)://\(request.host)\(request.target)   entrypoint \(request.entrypoint)"
        if request.entrypoint == "https" { head += ", SNI " + (request.serverName ?? "(none)") }
        var out = head + "   (route table generation \(explanation.generation))\n"
        if let tls = explanation.tls {
            var line: String
            switch tls.action {
            case .terminate:
                line = "terminate, certificate \"\(tls.certificate ?? "")\""
                line += tls.pattern.map { " (for \($0))" } ?? " (the default certificate)"
            case .passthrough:
                line = "passthrough" + (tls.pattern.map { " (for \($0))" } ?? "")
            case .reject:
                line = "reject"
            }
            out += "tls      \(line)\n"
        }
        if let route = explanation.route {
            let target = (route.services.count == 1 ? "service " : "services ") + route.services.joined(separator: "+")
            var line = "\(route.host)\(route.contextRoot) → \(target)"
            if route.stripContextRoot { line += " (strip context root)" }
            if route.entrypoints.count == 1 { line += " (\(route.entrypoints[0]) only)" }
            if !route.webSocketPaths.isEmpty { line += " (websocket \(route.webSocketPaths.joined(separator: ",")))" }
            out += "route    \(line)\n"
            out += "why      \(route.why)\n"
        } else if explanation.tls?.action != .passthrough, explanation.tls?.action != .reject, explanation.outcome.kind != .misdirected {
            out += "route    none\n"
        }
        out += "outcome  \(explanation.outcome.summary)" + (explanation.outcome.cause.map { " (cause \($0))" } ?? "") + "\n"
        if let pool = explanation.outcome.pool, pool.endpoints.contains(where: { $0.weight != nil || $0.healthy != nil }) {
            for endpoint in pool.endpoints {
                var line = "         \(endpoint.address)"
                if let weight = endpoint.weight { line += " weight \(WeightText.text(weight))" }
                if let healthy = endpoint.healthy { line += healthy ? " healthy" : " unhealthy" }
                out += line + "\n"
            }
        }
        guard !explanation.nearMisses.isEmpty else { return out + "near misses: none\n" }
        out += "near misses\n"
        let width = explanation.nearMisses.map { $0.subject.count }.max() ?? 0
        for miss in explanation.nearMisses {
            out += "  " + miss.subject + String(repeating: " ", count: width - miss.subject.count) + "  " + miss.reason + "\n"
        }
        return out
    }
}

/// Weights: whole numbers without a fraction (`10`, not `10.0`).
enum WeightText {
    static func text(_ x: Double) -> String {
        x.isFinite && abs(x) < 1e15 && Double(Int(x)) == x ? String(Int(x)) : String(x)
    }
}
