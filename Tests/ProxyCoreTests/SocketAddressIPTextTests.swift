import NIOCore
import Testing

@testable import ProxyCore

/// The client address as text: what NIO's `ipAddress` gives, for IPv4 and IPv6.
struct SocketAddressIPTextTests {
    @Test(arguments: ["127.0.0.1", "10.1.2.3", "255.255.255.255", "0.0.0.0", "::1", "::", "fe80::1", "2001:db8::8a2e:370:7334",
                      "::ffff:192.0.2.1", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"])
    func sameAsNIO(ip: String) throws {
        let address = try SocketAddress(ipAddress: ip, port: 443)
        #expect(address.ipText == address.ipAddress)
        #expect(address.ipText != nil)
    }

    @Test func aUnixSocketHasNone() throws {
        #expect(try SocketAddress(unixDomainSocketPath: "/tmp/pier-test.sock").ipText == nil)
    }
}
