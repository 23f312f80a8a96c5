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
        if HeaderBytes.wasAltered(head.uri) { return HeaderBytes.alteredTarget }
        for (name, value) in headers {
            if let problem = HeaderBytes.valueProblem(value, name: name) { return problem }
            if !isToken(name) { return "invalid header name" }
            switch name.utf8.count {
            case 4 where name.lowercased() == "host":
                hostCount += 1
            case 14 where name.lowercased() == "content-length":
                HeaderBytes.appendContentLengths(value, to: &contentLengths)
            case 17 where name.lowercased() == "transfer-encoding":
                transferEncodings += 1
            default:
                break
            }
        }
        if head.version.major == 1, head.version.minor >= 1, hostCount == 0 { return "missing Host header" }
        if hostCount > 1 { return "more than one Host header" }
        if let problem = HeaderBytes.contentLengthProblem(contentLengths) { return problem }
        if transferEncodings > 0 {
            if !contentLengths.isEmpty { return "both Content-Length and Transfer-Encoding" }
            let codings = headers[canonicalForm: "transfer-encoding"].map { $0.lowercased() }
            if codings.last != "chunked" || codings.dropLast().contains("chunked") { return "invalid Transfer-Encoding" }
            if head.version.major == 1, head.version.minor == 0 { return "Transfer-Encoding in an HTTP/1.0 request" }
        }
        return nil
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

/// Byte-level checks shared by requests and upstream responses.
enum HeaderBytes {
    static let alteredTarget = "the request target has bytes that are not UTF-8"

    /// Why a field value cannot be forwarded as it came, or nil: NUL, CR, LF and other controls are refused,
    /// and so are bytes that are not UTF-8 (obs-text such as Latin-1 `\xe9`).
    ///
    /// NIO's decoder turns every field into a Swift `String`, which replaces each byte that is not UTF-8 by
    /// U+FFFD (`EF BF BD`): forwarding the decoded value would alter the client's bytes silently. Pier cannot
    /// see the original bytes, so a value holding U+FFFD — replaced, or sent as such — is refused whole rather
    /// than forwarded changed.
    static func valueProblem(_ value: String, name: String) -> String? {
        // Native strings (all of NIO's) are contiguous; the copy is only for a bridged one.
        let problem = value.utf8.withContiguousStorageIfAvailable(scan) ?? Array(value.utf8).withUnsafeBufferPointer(scan)
        switch problem {
        case .none: return nil
        case .control: return "invalid character in header \(name)"
        case .notUTF8: return "header \(name) has bytes that are not UTF-8; Pier forwards field values unchanged or not at all"
        }
    }

    /// Whether NIO's decoder replaced bytes of `text` that were not UTF-8 (or the sender sent U+FFFD).
    static func wasAltered(_ text: String) -> Bool {
        text.utf8.withContiguousStorageIfAvailable(containsReplacement) ?? Array(text.utf8).withUnsafeBufferPointer(containsReplacement)
    }

    private enum Problem { case none, control, notUTF8 }

    /// One pass: visible ASCII, space, tab and UTF-8 sequences pass; controls and DEL do not; `EF BF BD`
    /// (U+FFFD) marks a byte the decoder replaced.
    private static func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> Problem {
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            if c < 0x20 {
                if c != 0x09 { return .control }
            } else if c == 0x7F {
                return .control
            } else if c == 0xEF, i + 2 < n, bytes[i + 1] == 0xBF, bytes[i + 2] == 0xBD {
                return .notUTF8
            }
            i += 1
        }
        return .none
    }

    private static func containsReplacement(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        while i + 2 < bytes.count {
            if bytes[i] == 0xEF, bytes[i + 1] == 0xBF, bytes[i + 2] == 0xBD { return true }
            i += 1
        }
        return false
    }

    /// Adds the comma-separated values of one Content-Length header to `values`; one value (the common case)
    /// allocates no list of its own.
    static func appendContentLengths(_ value: String, to values: inout [Substring]) {
        guard value.utf8.contains(UInt8(ascii: ",")) else { return values.append(Substring(value).trimmingSpaces()) }
        values.append(contentsOf: value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() })
    }

    /// Why a message's Content-Length values are unacceptable, or nil: each must be the canonical decimal
    /// form (digits, no sign, no leading zero but for a lone `0`, at most 18 digits), and repeated values
    /// must agree. `010` is refused: a recipient that reads it as octal would frame the body differently.
    static func contentLengthProblem(_ values: [Substring]) -> String? {
        guard let first = values.first else { return nil }
        if values.contains(where: { $0 != first }) { return "conflicting Content-Length values" }
        let digits = first.utf8
        if digits.isEmpty || digits.count > 18 || !digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
            || (digits.count > 1 && digits.first == 0x30)
        {
            return "invalid Content-Length \(first.debugDescription)"
        }
        return nil
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
