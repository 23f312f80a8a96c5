import NIOHTTP1

/// Checks the parser leaves to us, on a decoded request head: framing ambiguities and header values that
/// could be read differently by another hop. A request that fails is answered 400 and never forwarded.
enum RequestValidation {
    /// Why the request must be rejected, or nil when it may be forwarded.
    static func problem(_ head: HTTPRequestHead) -> String? {
        let headers = head.headers
        var hostCount = 0
        var contentLengths: [Substring] = []
        var transferEncodings = 0
        for (name, value) in headers {
            if !isValidValue(value) { return "invalid character in header \(name)" }
            if !isToken(name) { return "invalid header name" }
            switch name.utf8.count {
            case 4 where name.lowercased() == "host":
                hostCount += 1
            case 14 where name.lowercased() == "content-length":
                contentLengths.append(contentsOf: value.split(separator: ",").map { $0.trimmingSpaces() })
            case 17 where name.lowercased() == "transfer-encoding":
                transferEncodings += 1
            default:
                break
            }
        }
        if head.version.major == 1, head.version.minor >= 1, hostCount == 0 { return "missing Host header" }
        if hostCount > 1 { return "more than one Host header" }
        if let first = contentLengths.first {
            if contentLengths.contains(where: { $0 != first }) { return "conflicting Content-Length values" }
            if first.isEmpty || !first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) || first.utf8.count > 18 {
                return "invalid Content-Length"
            }
        }
        if transferEncodings > 0 {
            if !contentLengths.isEmpty { return "both Content-Length and Transfer-Encoding" }
            let codings = headers[canonicalForm: "transfer-encoding"].map { $0.lowercased() }
            if codings.last != "chunked" || codings.dropLast().contains("chunked") { return "invalid Transfer-Encoding" }
            if head.version.major == 1, head.version.minor == 0 { return "Transfer-Encoding in an HTTP/1.0 request" }
        }
        return nil
    }

    /// Field values: visible ASCII, obs-text, space and tab; no NUL, CR, LF or other controls.
    static func isValidValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 >= 0x20 ? $0 != 0x7F : $0 == 0x09 }
    }

    static func isToken(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }

    /// The declared body length, when the request has a Content-Length (validated before).
    static func contentLength(_ head: HTTPRequestHead) -> Int64? {
        guard let value = head.headers.first(name: "content-length") else { return nil }
        return Int64(value.split(separator: ",").first.map { $0.trimmingSpaces() } ?? "")
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (header whitespace, RFC 9110 §5.6.3); bytes, not
    /// characters (no grapheme breaking on the hot path).
    func trimmingSpaces() -> Substring {
        var view = utf8
        while let byte = view.first, byte == 0x20 || byte == 0x09 { view = view.dropFirst() }
        while let byte = view.last, byte == 0x20 || byte == 0x09 { view = view.dropLast() }
        return Substring(view)
    }
}
