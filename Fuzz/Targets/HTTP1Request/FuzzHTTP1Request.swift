import FuzzHTTP1Support
import FuzzSupport

/// Pier's request parser (`HTTP1HeadParser(role: .request)`, then Content-Length bytes or `ChunkedDecoder`)
/// against NIO's llhttp-based `HTTPRequestDecoder`, on the first request of a connection, read in up to
/// three pieces.
///
/// Input: a byte for 0–2 cuts, two bytes per cut (a position, modulo the length), then what the client sends
/// (a seed starting with `0` has no cut).
///
/// Invariants: Pier never completes a request that llhttp refuses or frames otherwise; when both complete
/// it, they agree on method, target, version, field lines (names and values, in order), body bytes and
/// trailers. Pier may refuse what llhttp accepts: it is stricter by design (missing or duplicate Host,
/// Transfer-Encoding without `chunked` last, Content-Length beside Transfer-Encoding, and so on).
///
/// Allowed differences (see `Fuzz/HTTP1Support`): llhttp keeps the whitespace that ends a field value, Pier
/// does not (RFC 9112 §5); a value of Pier's that is not UTF-8 is not compared (NIO makes it U+FFFD).
enum FuzzHTTP1Request: FuzzTarget {
    static func run(_ input: inout FuzzInput) {
        let cuts = input.cuts(max: 2)
        let bytes = Array(input.rest)
        let pieces = pieces(bytes, at: cuts)
        Differential.check(pier: PierMessageReader.read(pieces, role: .request, close: false),
                           nio: { NIOMessageReader.readRequest(pieces) },
                           input: "\(escaped(bytes)) in \(pieces.count) pieces")
    }
}

#if PIER_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { FuzzHTTP1Request.fuzzOne(data, size) }
#else
@main extension FuzzHTTP1Request {}
#endif
