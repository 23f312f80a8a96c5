import Testing

@testable import ProxyCore

/// The field list heads are built into for HTTP/2 responses and NIO's codecs: the names Pier adds.
struct ListHeadSinkTests {
    static func storage(_ string: String) -> UnsafeRawPointer? {
        var string = string
        return string.withUTF8 { UnsafeRawPointer($0.baseAddress) }
    }

    @Test("every name Pier adds reads right; the long ones are literals, the same storage each time",
          arguments: ["x-request-id", "connection", "transfer-encoding", "x-forwarded-host", "x-forwarded-port", "x-forwarded-proto",
                      "x-upstream-response-time"])
    func names(expected: String) {
        var sink = ListHeadSink(capacity: 2, original: nil)
        switch expected {
        case "x-request-id": sink.add("x-request-id", "a"); sink.add("x-request-id", "b")
        case "connection": sink.add("connection", "a"); sink.add("connection", "b")
        case "transfer-encoding": sink.add("transfer-encoding", "a"); sink.add("transfer-encoding", "b")
        case "x-forwarded-host": sink.add("x-forwarded-host", "a"); sink.add("x-forwarded-host", "b")
        case "x-forwarded-port": sink.add("x-forwarded-port", "a"); sink.add("x-forwarded-port", "b")
        case "x-forwarded-proto": sink.add("x-forwarded-proto", "a"); sink.add("x-forwarded-proto", "b")
        default: sink.add("x-upstream-response-time", "a"); sink.add("x-upstream-response-time", "b")
        }
        #expect(sink.list.map(\.0) == [expected, expected])
        if expected.utf8.count > 15 {
            #expect(Self.storage(sink.list[0].0) == Self.storage(sink.list[1].0), "a new String per use")
        }
    }

    @Test("a long name that is not one of Pier's is still read right")
    func otherLongName() {
        #expect(ListHeadSink.string("x-some-other-long-name") == "x-some-other-long-name")
    }
}
