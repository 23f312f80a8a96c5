import NIOCore
import NIOPosix
import RouteModel
import Testing

@testable import ProxyCore

/// Per-event-loop state follows the current route table, not the number of reloads (issue 13).
struct LoopStateTests {
    func table(generation: UInt64, endpoints: [Endpoint]) -> RouteTable {
        let pool = BackendPool(id: 0, services: ["app"], endpoints: endpoints)
        let route = Route(host: .exact("app.test"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 0), services: ["app"])
        return RouteTable(generation: generation, content: .init(routes: [route], pools: [pool], defaultRoute: nil, settings: ProxySettings()))
    }

    @Test func addressesOfEndpointsThatLeftTheTableAreForgotten() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = LoopState(eventLoop: group.next())
        // Every generation brings endpoints on new addresses (tasks of a Swarm deploy); one request each.
        let counts = try await loop.eventLoop.submit {
            var counts: [Int] = []
            for generation in 1...50 {
                let endpoint = Endpoint(host: "127.0.0.\(generation + 1)", port: 1)
                let table = table(generation: UInt64(generation), endpoints: [endpoint])
                let chosen = try #require(loop.pick(table.pools[0], in: table, affinityKey: nil, now: 0))
                _ = loop.pool.connect(chosen, timeout: .milliseconds(1))
                counts.append(loop.pool.addresses.count)
            }
            return counts
        }.get()
        #expect(counts.allSatisfy { $0 == 1 }, "\(counts)")
        try await group.shutdownGracefully()
    }
}
