import FuzzHTTP1Support
import FuzzSupport
import HTTP1Codec
import NIOCore

/// `ChunkedDecoder` alone: a chunked body (sizes, extensions, data, last chunk, trailers) decoded once in one
/// read and once in up to three pieces, and against NIO's llhttp-based `HTTPRequestDecoder`, which reads it
/// behind `POST / HTTP/1.1`, `Host: a`, `Transfer-Encoding: chunked`.
///
/// Input: a byte for 0–2 cuts, two bytes per cut (a position, modulo the length), then the body (a seed
/// starting with `0` has no cut).
///
/// Invariants: the outcome (end, refusal, more needed), the data before it and the trailers do not depend on
/// the cuts; Pier never ends a body that llhttp refuses or ends elsewhere, and when both end it they agree on
/// the data and the trailers. Pier may refuse what llhttp accepts (its line and trailer limits are smaller).
///
/// Allowed differences (see `Fuzz/HTTP1Support`): llhttp keeps the whitespace that ends a field value, Pier
/// does not (RFC 9112 §5); a value of Pier's that is not UTF-8 is not compared (NIO makes it U+FFFD).
enum FuzzHTTP1Chunked: FuzzTarget {
    struct Decoded: Equatable, CustomStringConvertible {
        enum Outcome: Equatable {
            case end, refused(HTTP1ParseError), needMore
        }
        var outcome = Outcome.needMore
        var data: [UInt8] = []
        var trailers: [DecodedField] = []

        var description: String { "\(outcome), data \(escaped(data)), trailers \(trailers)" }
    }

    static let head = Array("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

    static func run(_ input: inout FuzzInput) {
        let cuts = input.cuts(max: 2)
        let bytes = Array(input.rest)
        let pieces = pieces(bytes, at: cuts)
        let whole = decode([bytes])
        let split = decode(pieces)
        let what = "\(escaped(bytes)) in \(pieces.count) pieces"
        fuzzCheck(whole == split, "\(what): \(whole) in one read, \(split) in pieces")
        guard whole.outcome == .end else { return }

        let nio = NIOMessageReader.readRequest([head + pieces[0]] + pieces.dropFirst())
        guard let message = nio.message else { return fuzzCheck(false, "\(what): Pier ends the body, NIO: \(nio)") }
        fuzzCheck(message.body == whole.data && message.trailers == whole.trailers, "\(what): Pier \(whole), NIO \(message)")
    }

    static func decode(_ pieces: [[UInt8]]) -> Decoded {
        var decoder = ChunkedDecoder()
        var buffer = ByteBuffer()
        var decoded = Decoded()
        for piece in pieces {
            buffer.writeBytes(piece)
            do throws(HTTP1ParseError) {
                loop: while true {
                    switch try decoder.next(&buffer) {
                    case .data(let slice):
                        decoded.data += Array(slice.readableBytesView)
                    case .end(let trailers):
                        decoded.outcome = .end
                        decoded.trailers = trailers.map { PierMessageReader.decode($0, role: .trailers).fields } ?? []
                        return decoded
                    case .needMore:
                        break loop
                    }
                }
            } catch {
                decoded.outcome = .refused(error)
                return decoded
            }
        }
        return decoded
    }
}

#if PIER_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { FuzzHTTP1Chunked.fuzzOne(data, size) }
#else
@main extension FuzzHTTP1Chunked {}
#endif
