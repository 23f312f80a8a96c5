import FuzzSupport

/// The differential invariant of the HTTP/1.1 targets: when Pier completes the first message, NIO (llhttp)
/// completes it too, and reads the same one. Pier refusing, or still waiting, is not checked: it may be
/// stricter than llhttp, never laxer.
public enum Differential {
    /// Traps unless NIO agrees with Pier's `pier` outcome. `nio` runs only when Pier completed a message.
    public static func check(pier: DecodeOutcome, nio: () -> DecodeOutcome, input: String) {
        guard case .complete(let pier) = pier else { return }
        let outcome = nio()
        let what = "\(input):\n  Pier \(pier)\n  NIO  \(outcome)"
        guard let nio = outcome.message else { return fuzzCheck(false, "Pier completes a message NIO does not: \(what)") }
        fuzzCheck(pier.interim == nio.interim, "interim heads differ: \(what)")
        fuzzCheck(pier.head == nio.head, "heads differ: \(what)")
        fuzzCheck(pier.body == nio.body, "bodies differ: \(what)")
        fuzzCheck(pier.trailers == nio.trailers, "trailers differ: \(what)")
    }
}
