import NIOCore
import NIOHPACK
import NIOHTTP1

/// Where `ForwardedHeaders` writes the fields of a head it builds: as HTTP/1.1 bytes, as NIO's list, or as an
/// HTTP/2 header block.
protocol HeadSink {
    /// Keeps field `index` of the source head, `name: value` as they came.
    mutating func keep(_ index: Int, _ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer)
    /// Adds a field of Pier's.
    mutating func add(_ name: StaticString, _ value: String)
    /// Adds the request id.
    mutating func add(_ name: StaticString, id: RequestID)
    /// Adds a field of Pier's whose value is bytes of the source head.
    mutating func add(_ name: StaticString, bytes value: UnsafeRawBufferPointer)
    /// A kept value this sink could not carry unchanged, if any.
    var unrepresentable: String? { get }
}

/// Field lines written into one buffer, sized once by the caller: a kept field is a copy of its bytes.
struct ByteHeadSink: HeadSink {
    var buffer: ByteBuffer

    /// A sink of at least `capacity` bytes, in `recycling`'s storage when it is free (`HeadBufferPool`).
    /// `recycling` is consumed: a copy held anywhere else would make its storage look shared, and be replaced.
    init(capacity: Int, recycling: consuming ByteBuffer? = nil) {
        if var recycled = consume recycling {
            recycled.clear(minimumCapacity: capacity)
            buffer = recycled
        } else {
            buffer = ByteBufferAllocator().buffer(capacity: capacity)
        }
    }

    mutating func keep(_ index: Int, _ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        buffer.writeBytes(name)
        buffer.writeStaticString(": ")
        buffer.writeBytes(value)
        buffer.writeStaticString("\r\n")
    }

    mutating func add(_ name: StaticString, _ value: String) {
        buffer.writeStaticString(name)
        buffer.writeStaticString(": ")
        buffer.writeString(value)
        buffer.writeStaticString("\r\n")
    }

    mutating func add(_ name: StaticString, id: RequestID) {
        buffer.writeStaticString(name)
        buffer.writeStaticString(": ")
        id.write(into: &buffer)
        buffer.writeStaticString("\r\n")
    }

    mutating func add(_ name: StaticString, bytes value: UnsafeRawBufferPointer) {
        buffer.writeStaticString(name)
        buffer.writeStaticString(": ")
        buffer.writeBytes(value)
        buffer.writeStaticString("\r\n")
    }

    var unrepresentable: String? { nil }
}

/// NIO's `(name, value)` list. A field kept from a NIO head is the same pair of Strings; one kept from a
/// parsed head is decoded, and refused when it is not UTF-8 (a String would alter it).
struct ListHeadSink: HeadSink {
    var list: [(String, String)] = []
    /// The source's own list, when it has one.
    let original: HTTPHeaders?
    private(set) var unrepresentable: String?

    init(capacity: Int, original: HTTPHeaders?) {
        list.reserveCapacity(capacity)
        self.original = original
    }

    mutating func keep(_ index: Int, _ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        if let original {
            list.append(original[original.index(original.startIndex, offsetBy: index)])
        } else {
            add(String(decoding: name, as: UTF8.self), value)
        }
    }

    mutating func add(_ name: StaticString, _ value: String) {
        list.append((Self.string(name), value))
    }

    mutating func add(_ name: StaticString, id: RequestID) {
        add(name, id.description)
    }

    mutating func add(_ name: StaticString, bytes value: UnsafeRawBufferPointer) {
        add(Self.string(name), value)
    }

    /// `name` as a String without a copy of its own: one of 15 bytes or fewer is stored inline, and the longer
    /// names Pier adds are String literals (a String made from a StaticString of over 15 bytes would be an
    /// allocation per response on HTTP/2).
    static func string(_ name: StaticString) -> String {
        // A one-scalar literal may be stored as that scalar, without bytes to compare (and is short anyway).
        guard name.hasPointerRepresentation else { return name.description }
        let count = name.utf8CodeUnitCount
        if count > 15 {
            let bytes = UnsafeRawBufferPointer(start: name.utf8Start, count: count)
            for literal in longNames where literal.utf8.count == count && literal.utf8.elementsEqual(bytes) { return literal }
        }
        return name.description
    }

    private static let longNames = ["transfer-encoding", "x-forwarded-host", "x-forwarded-port", "x-forwarded-proto", "x-upstream-response-time"]

    private mutating func add(_ name: String, _ value: UnsafeRawBufferPointer) {
        guard let text = String(validating: value, as: UTF8.self) else {
            if unrepresentable == nil { unrepresentable = name }
            return
        }
        list.append((name, text))
    }
}

extension UnsafeRawBufferPointer {
    /// These bytes without the spaces and tabs around them.
    func trimmingSpaces() -> UnsafeRawBufferPointer {
        var a = 0
        var b = count
        while a < b, self[a] == 0x20 || self[a] == 0x09 { a += 1 }
        while b > a, self[b - 1] == 0x20 || self[b - 1] == 0x09 { b -= 1 }
        return UnsafeRawBufferPointer(rebasing: self[a..<b])
    }

    /// Calls `body` with each non-empty element of a comma-separated list value, trimmed (RFC 9110 §5.6.1).
    func forEachElement(_ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start <= count {
            var end = start
            while end < count, self[end] != 0x2C { end += 1 }
            let element = UnsafeRawBufferPointer(rebasing: self[start..<end]).trimmingSpaces()
            if !element.isEmpty { body(element) }
            start = end + 1
        }
    }

    /// The last non-empty element of a list value, if any.
    func lastElement() -> UnsafeRawBufferPointer? {
        var last: UnsafeRawBufferPointer?
        forEachElement { last = $0 }
        return last
    }

    /// Whether a list value has the element `lowercase` (compared ignoring ASCII case).
    func containsElement(_ lowercase: StaticString) -> Bool {
        var found = false
        forEachElement { found = found || $0.equalsLowercase(lowercase) }
        return found
    }
}

/// Fields written straight into an HTTP/2 response header block (`:status` first): names in lower case
/// (RFC 9113 §8.2.1; the common ones as literals, no String made), each with its HPACK indexing
/// (`HTTP2StreamHandler.indexing`). No field list or NIO head in between, and no second pass over them.
struct HPACKHeadSink: HeadSink {
    var block = HPACKHeaders()
    private(set) var unrepresentable: String?
    /// The loop's interner, for the values upstreams send again and again (`Date` for a second, `ETag`,
    /// `Last-Modified`, `Content-Type` with its parameters): the String made before, not a new one each time.
    let strings: StringInterner?

    init(capacity: Int, status: Int, strings: StringInterner? = nil) {
        self.strings = strings
        block.reserveCapacity(capacity + 1)
        block.add(name: ":status", value: String(status))
    }

    mutating func keep(_ index: Int, _ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        // A common name as its literal straight from the bytes (no String made), any other lowercased.
        add(HTTP2StreamHandler.common(name) ?? HTTP2StreamHandler.lowercased(String(decoding: name, as: UTF8.self)), value)
    }

    mutating func add(_ name: StaticString, _ value: String) {
        let name = ListHeadSink.string(name)
        block.add(name: name, value: value, indexing: HTTP2StreamHandler.indexing(name))
    }

    mutating func add(_ name: StaticString, id: RequestID) {
        add(name, id.description)
    }

    mutating func add(_ name: StaticString, bytes value: UnsafeRawBufferPointer) {
        add(ListHeadSink.string(name), value)
    }

    private mutating func add(_ name: String, _ value: UnsafeRawBufferPointer) {
        guard let text = strings.map({ $0.validString(value) }) ?? String(validating: value, as: UTF8.self) else {
            if unrepresentable == nil { unrepresentable = name }
            return
        }
        block.add(name: name, value: text, indexing: HTTP2StreamHandler.indexing(name))
    }
}
