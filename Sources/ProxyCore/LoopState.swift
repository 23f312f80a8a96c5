import NIOCore
import RouteModel

/// Per-event-loop state of the data plane: the upstream connection pool, the round-robin counters and a
/// fast random source for request ids.
///
/// Owned by one event loop: every method is called on it only, which is what makes the unchecked
/// Sendable conformance safe (the object is created off-loop and then only handed to handlers of its loop).
final class LoopState: @unchecked Sendable {
    let eventLoop: EventLoop
    let pool: UpstreamConnectionPool
    private var roundRobin: [Int] = []
    private var random: UInt64

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        self.pool = UpstreamConnectionPool(eventLoop: eventLoop)
        self.random = UInt64.random(in: 1...UInt64.max)
    }

    /// The next endpoint of `pool` in round-robin order.
    func nextEndpoint(in pool: BackendPool) -> Endpoint? {
        eventLoop.assertInEventLoop()
        let endpoints = pool.endpoints
        guard !endpoints.isEmpty else { return nil }
        // Counters are kept across generations (pool ids may be reassigned, which only shifts an offset):
        // resetting them on every reload would favour the first endpoints when reloads are frequent.
        if roundRobin.count <= pool.id {
            roundRobin.append(contentsOf: repeatElement(0, count: pool.id + 1 - roundRobin.count))
        }
        let choice = endpoints[roundRobin[pool.id] % endpoints.count]
        roundRobin[pool.id] &+= 1
        return choice
    }

    /// A new 32-hex-digit request id (nginx's `$request_id` format), from a per-loop xorshift generator.
    func makeRequestID() -> String {
        func next() -> UInt64 {
            random ^= random << 13
            random ^= random >> 7
            random ^= random << 17
            return random
        }
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 32) { buffer in
            for half in 0..<2 {
                var value = next()
                for i in 0..<16 {
                    buffer[half * 16 + i] = hex[Int(value & 0xF)]
                    value >>= 4
                }
            }
            return 32
        }
    }
}
