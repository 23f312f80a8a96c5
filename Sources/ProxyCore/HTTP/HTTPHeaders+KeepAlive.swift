import NIOHTTP1

extension HTTPHeaders {
    /// NIO's `isKeepAlive(version:)` (RFC 9112 §9.3: `close` closes, one `keep-alive` keeps, both or a repeat
    /// close; otherwise HTTP/1.1 keeps and HTTP/1.0 closes) without its allocations: NIO knows the answer for
    /// heads its own decoder made, but works it out for any other head by building a list of the
    /// `Connection` values, and Pier's codec hands on heads of its own.
    func keepsAlive(version: HTTPVersion) -> Bool {
        var close = false
        var keepAlives = 0
        for (name, value) in self where ForwardedHeaders.Name(name) == .connection {
            var value = value
            value.withUTF8 { bytes in
                var start = 0
                while start <= bytes.count {
                    var end = start
                    while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
                    var a = start
                    var b = end
                    while a < b, bytes[a] == 0x20 || bytes[a] == 0x09 { a += 1 }
                    while b > a, bytes[b - 1] == 0x20 || bytes[b - 1] == 0x09 { b -= 1 }
                    let token = UnsafeBufferPointer(rebasing: bytes[a..<b])
                    if token.equalsLowercase("close") {
                        close = true
                    } else if token.equalsLowercase("keep-alive") {
                        keepAlives += 1
                    }
                    start = end + 1
                }
            }
        }
        if close || keepAlives > 1 { return false }
        if keepAlives == 1 { return true }
        return version.major == 1 && version.minor >= 1
    }
}
