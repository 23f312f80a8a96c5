import Logging
import NIOCore
import RouteModel

extension HTTPProxyHandler {
    /// Writes the access log line of a finished exchange (one per request, when `AccessLog` is on).
    func log(_ exchange: HTTPExchange) {
        guard exchange.settings.accessLog else { return }
        let millis = Double(NIODeadline.now().uptimeNanoseconds &- exchange.startNanos) / 1e6
        var metadata: Logger.Metadata = [
            "method": "\(exchange.head.method.rawValue)",
            "host": "\(exchange.head.headers.first(name: "host") ?? "-")",
            "path": "\(exchange.head.uri)",
            "status": "\(exchange.status)",
            "bytes": "\(exchange.responseBytes)",
            "upstream": "\(exchange.endpoint.map { "\($0)" } ?? "-")",
            "duration_ms": "\(String(format3: millis))",
            "request_id": "\(exchange.requestID)",
        ]
        if let clientIP { metadata["client"] = "\(clientIP)" }
        if let cause = exchange.cause {
            metadata["cause"] = "\(cause)"
            if cause.retry != .notApplicable { metadata["retry"] = "\(cause.retry.rawValue)" }
        }
        accessLogger.info("request", metadata: metadata)
    }
}

extension String {
    /// A non-negative number with three decimals, without Foundation.
    init(format3 value: Double) {
        let thousandths = Int((Swift.max(0, value) * 1000).rounded())
        let fraction = thousandths % 1000
        self = "\(thousandths / 1000)." + (fraction < 10 ? "00" : fraction < 100 ? "0" : "") + "\(fraction)"
    }
}

