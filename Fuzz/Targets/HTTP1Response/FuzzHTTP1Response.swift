import FuzzHTTP1Support
import FuzzSupport

/// Pier's response parser (`HTTP1HeadParser(role: .response)` and the framing `HTTP1ClientCodecHandler`
/// applies: interim 1xx heads skipped, no body after HEAD or a 101, a body until the close when nothing else
/// frames it) against NIO's llhttp-based `HTTPResponseDecoder` (interim heads forwarded), on the first
/// response of a connection, read in up to three pieces, then the connection closes.
///
/// Input: a byte for the request's method (even: HEAD, odd: GET; `H` and `G` in the seeds), a byte for 0–2
/// cuts, two bytes per cut (a position, modulo the length), then what the upstream sends.
///
/// Invariants: Pier never completes a response that llhttp refuses or frames otherwise; when both complete
/// it, they agree on interim heads, status, version, field lines (names and values, in order), body bytes and
/// trailers. Pier may refuse what llhttp accepts (Transfer-Encoding without `chunked` last or in HTTP/1.0,
/// beside Content-Length; a status outside 100–599).
///
/// Allowed differences (see `Fuzz/HTTP1Support`): llhttp keeps the whitespace that ends a field value, Pier
/// does not (RFC 9112 §5); a value of Pier's that is not UTF-8 is not compared (NIO makes it U+FFFD).
enum FuzzHTTP1Response: FuzzTarget {
    static func run(_ input: inout FuzzInput) {
        let toHEAD = input.byte() % 2 == 0
        let cuts = input.cuts(max: 2)
        let bytes = Array(input.rest)
        let pieces = pieces(bytes, at: cuts)
        Differential.check(pier: PierMessageReader.read(pieces, role: .response, answersHEAD: toHEAD, close: true),
                           nio: { NIOMessageReader.readResponse(pieces, toHEAD: toHEAD, close: true) },
                           input: "\(toHEAD ? "HEAD" : "GET") answered by \(escaped(bytes)) in \(pieces.count) pieces")
    }
}

#if PIER_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { FuzzHTTP1Response.fuzzOne(data, size) }
#else
@main extension FuzzHTTP1Response {}
#endif
