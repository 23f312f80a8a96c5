/// The exchange objects of one event loop's connections, recycled: an exchange that ended is given back, and
/// the next request on the loop takes it instead of allocating one.
///
/// An object is reused only once nothing else holds it (`isKnownUniquelyReferenced`: a connect still under
/// way, a tunnel, an action being handled keep theirs), and then every field is replaced at once
/// (`HTTPExchange.State`). Given back, it lets go of what it borrowed (`HTTPExchange.retire`: buffers, the
/// route table, pool and route), so waiting objects keep no old table alive across reloads. At most `limit`
/// objects wait: memory stays a few dozen small objects per loop however many connections the loop had; the
/// limit is the head buffer pool's, so that a burst of that many responses ending together is taken up by
/// the next burst of requests.
struct ExchangePool {
    private var waiting: [HTTPExchange] = []
    let limit: Int
    /// How many exchanges a recycled object served (for tests).
    private(set) var reuses = 0

    init(limit: Int = HeadBufferPool.maxBuffers) {
        self.limit = limit
    }

    /// An exchange that ended (`HTTPExchange.retire` says what is still read of it).
    mutating func giveBack(_ exchange: HTTPExchange) {
        guard waiting.count < limit else { return }
        exchange.retire()
        waiting.append(exchange)
    }

    /// An object for a new exchange, or nil when none is free (the caller allocates one).
    mutating func take() -> HTTPExchange? {
        while var exchange = waiting.popLast() {
            // Held elsewhere still: let it go, its holder frees it.
            guard isKnownUniquelyReferenced(&exchange) else { continue }
            reuses += 1
            return exchange
        }
        return nil
    }

    /// How many objects wait (for tests).
    var count: Int { waiting.count }
}
