import NIOCore
import NIOHTTP1
import RouteModel
import Testing

@testable import ProxyCore

/// The exchange object as the pool recycles it: fields edited in place, everything borrowed let go when it
/// retires, every field new when it serves again.
struct HTTPExchangeTests {
    static func exchange(_ text: String = "POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\n\r\n", generation: UInt64 = 7) -> HTTPExchange {
        let settings = ProxySettings(accessLog: true)
        let table = RouteTable.empty(settings: settings)
        let routed = RouteTable(generation: generation, content: table.content)
        return HTTPExchange(head: .parsed(text), upgrade: .none, table: routed, requestID: "test-id", now: .now())
    }

    static func storage(_ parts: [UpstreamRequestPart]) -> UnsafeRawPointer? {
        parts.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
    }

    @Test("a list field is appended to in place: the parts buffered while connecting are not copied at each append")
    func listsAreEditedInPlace() {
        let exchange = Self.exchange()
        exchange.buffered.reserveCapacity(16)
        // A copy per append would alternate between two buffers (malloc hands the freed one back), so every
        // address is recorded, not just the last.
        var seen: Set<UnsafeRawPointer?> = [Self.storage(exchange.buffered)]
        for _ in 0..<8 {
            exchange.buffered.append(.body(.byteBuffer(ByteBuffer(string: "abc"))))
            seen.insert(Self.storage(exchange.buffered))
        }
        #expect(exchange.buffered.count == 8)
        #expect(seen.count == 1, "the list was copied on append")
    }

    @Test("retired, an exchange holds no table, pool, route or buffer; serving again, nothing of the last request remains")
    func retireAndReuse() {
        let exchange = Self.exchange()
        exchange.buffered.append(.end(nil))
        exchange.failed.append(Endpoint(host: "127.0.0.1", port: 1))
        exchange.status = 502
        exchange.webSocket = true
        #expect(exchange.table.generation == 7 && exchange.host == "app.test" && exchange.target == "/upload")
        exchange.retire()
        #expect(exchange.table.generation == 0, "a waiting exchange keeps an old table alive")
        #expect(exchange.pool == nil && exchange.route == nil && exchange.endpoint == nil && exchange.failed.isEmpty)
        #expect(exchange.buffered.isEmpty && exchange.upstreamHead == nil && exchange.host == nil && exchange.target == nil)
        // What is read after `ended()` stays.
        #expect(exchange.settings.accessLog)
        let next = Self.exchange("GET /next HTTP/1.1\r\nHost: other.test\r\n\r\n", generation: 8)
        exchange.state = next.state
        #expect(exchange.status == 0 && !exchange.webSocket && exchange.failed.isEmpty && exchange.method == .GET)
        #expect(exchange.target == "/next" && exchange.host == "other.test" && exchange.table.generation == 8)
    }
}
