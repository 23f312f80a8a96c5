import RouteModel
import Testing

/// Every kind of failure: the side it lies with, the status Pier answers, and what retrying means for it.
struct FailureCauseTests {
    typealias Kind = FailureCause.Kind

    /// The table of design §3, written out: a kind added without a row here fails `everyKindHasARow`.
    static let table: [(Kind, FailureCause.Side, Int?)] = [
        (.malformedRequest, .downstream, 400), (.headerTooLarge, .downstream, 431), (.bodyTooLarge, .downstream, 413),
        (.expectationFailed, .downstream, 417), (.clientHeadTimeout, .downstream, 408), (.bodyTimeout, .downstream, 408),
        (.misdirected, .downstream, 421), (.webSocketRefused, .downstream, 403), (.webSocketNotGET, .downstream, 400),
        (.webSocketToH2C, .downstream, 501), (.clientClosed, .downstream, nil),
        (.noRoute, .router, 503), (.noContextRoot, .router, 404), (.noEndpoint, .router, 503), (.endpointsAtLimit, .router, 503),
        (.connectRefused, .upstream, 502), (.connectTimeout, .upstream, 504), (.closedBeforeResponse, .upstream, 502),
        (.invalidResponse, .upstream, 502), (.unexpectedSwitch, .upstream, 502), (.sendTimeout, .upstream, 504),
        (.upstreamHeadTimeout, .upstream, 504), (.readTimeout, .upstream, 504), (.closedMidResponse, .upstream, nil),
        (.tlsNoCertificate, .downstream, nil), (.tlsHandshakeFailed, .downstream, nil), (.tlsHandshakeTimeout, .downstream, nil),
        (.certificateUnusable, .router, nil),
    ]

    @Test("each kind → side and status", arguments: table)
    func sideAndStatus(kind: Kind, side: FailureCause.Side, status: Int?) {
        let cause = FailureCause(kind)
        #expect(cause.side == side)
        #expect(cause.status == status)
        #expect(cause.description == "\(side.rawValue).\(kind.rawValue)")
        #expect(!cause.summary.isEmpty)
        #expect(!cause.retryable, "nothing was tried by default")
    }

    @Test func everyKindHasARow() {
        #expect(Set(Self.table.map(\.0)) == Set(Kind.allCases))
        #expect(Self.table.count == Kind.allCases.count)
    }

    @Test("names are bounded metric labels: lower snake case (digits after a letter), unique")
    func namesAreLabels() {
        let names = Kind.allCases.map(\.rawValue) + FailureCause.Retry.allCases.map(\.rawValue)
        for name in names { #expect(name.first?.isLetter == true && name.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }, "\(name)") }
        #expect(Set(Kind.allCases.map(\.rawValue)).count == Kind.allCases.count)
        #expect(Set(Kind.allCases.map(\.summary)).count == Kind.allCases.count, "each summary says something of its own")
    }

    @Test("retryable: a retry was possible, taken or refused by the pool", arguments: [
        (FailureCause.Retry.notApplicable, false), (.done, true), (.notIdempotent, false), (.bodyNotReplayable, false),
        (.budgetExhausted, true), (.noOtherEndpoint, true),
    ])
    func retryable(retry: FailureCause.Retry, expected: Bool) {
        let cause = FailureCause(.connectTimeout, retry: retry)
        #expect(cause.retryable == expected)
        #expect(cause.status == 504, "the retry outcome does not change the status")
    }
}
