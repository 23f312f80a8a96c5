import Logging
import NIOCore
import RouteModel

extension HTTPProxyHandler {
    /// Writes the access log line of a finished exchange (one per request, when `AccessLog` is on).
    ///
    /// Numbers go in as `.stringConvertible` values, strings as `.string`: the text format prints both alike,
    /// the JSON format writes the former unquoted (`"status":200`).
    func log(_ exchange: HTTPExchange) {
        guard exchange.settings.accessLog else { return }
        let nanos = NIODeadline.now().uptimeNanoseconds &- exchange.startNanos
        let version = exchange.version
        var metadata: Logger.Metadata = [
            "method": "\(exchange.method.rawValue)",
            "host": "\(exchange.host ?? "-")",
            "path": "\(exchange.target ?? "-")",
            // Constant strings: nothing is formatted per request (NIO's decoder gives only 1.0, 1.1 and 2).
            "proto": .string(version.major >= 2 ? "HTTP/2" : version.minor == 0 ? "HTTP/1.0" : "HTTP/1.1"),
            "status": .stringConvertible(Int(exchange.status)),
            "bytes": .stringConvertible(exchange.responseBytes),
            "upstream": "\(exchange.endpoint.map { "\($0)" } ?? "-")",
            "duration_ms": .stringConvertible(Milliseconds(nanoseconds: nanos)),
            "request_id": "\(exchange.requestID)",
            "entrypoint": "\(downstream.scheme.rawValue)",
            "route": "\(exchange.route.map(Self.routeName) ?? "-")",
            "service": "\((exchange.pool?.services ?? exchange.route?.services)?.joined(separator: ",") ?? "-")",
            "retries": .stringConvertible(exchange.failed.count),
        ]
        if exchange.upstreamHeadNanos != 0 {
            let upstream = exchange.upstreamHeadNanos &- exchange.upstreamSentNanos
            metadata["upstream_ms"] = .stringConvertible(Milliseconds(nanoseconds: upstream))
        }
        if let clientIP { metadata["client"] = "\(clientIP)" }
        if let cause = exchange.cause {
            metadata["cause"] = "\(cause)"
            if cause.retry != .notApplicable { metadata["retry"] = "\(cause.retry.rawValue)" }
        }
        accessLogger.info("request", metadata: metadata)
    }

    /// A route as `pier routes` lists it, host pattern then context root (`app.example.com/api`), `default`
    /// for the default backend: bounded by the table, never the raw Host.
    static func routeName(_ route: Route) -> String {
        let host = route.host.description
        return host.isEmpty ? "default" : host + route.contextRoot
    }
}

/// A duration in milliseconds with three decimals (`3.114`): a number in JSON logs, the same text in text logs.
struct Milliseconds: CustomStringConvertible, Sendable {
    var nanoseconds: UInt64

    var description: String { String(format3: Double(nanoseconds) / 1e6) }
}

extension String {
    /// A non-negative number with three decimals, without Foundation.
    init(format3 value: Double) {
        let thousandths = Int((Swift.max(0, value) * 1000).rounded())
        let fraction = thousandths % 1000
        self = "\(thousandths / 1000)." + (fraction < 10 ? "00" : fraction < 100 ? "0" : "") + "\(fraction)"
    }
}
