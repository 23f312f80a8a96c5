import Logging
import NIOCore
import NIOPosix
@testable import ProxyCore
import RouteModel
import Testing

@Suite("An entrypoint that cannot listen says which one, where and why")
struct ProxyServerBindErrorTests {
    @Test func aTakenPortNamesTheEntrypointAndTheAddress() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let holder = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let taken = try #require(holder.localAddress?.port)
        for https in [false, true] {
            let configuration = https
                ? ProxyServer.Configuration(host: "127.0.0.1", port: 0, https: ("127.0.0.1", taken))
                : ProxyServer.Configuration(host: "127.0.0.1", port: taken)
            let server = ProxyServer(configuration: configuration, group: group, tables: RouteTableBox(.empty()), logger: Logger(label: "test"))
            do {
                try await server.start()
                Issue.record("bound a taken port")
            } catch let failure as ProxyServer.BindError {
                #expect(failure.entrypoint == (https ? "HTTPS" : "HTTP"))
                #expect(failure.description == "cannot listen on the \(failure.entrypoint) entrypoint 127.0.0.1:\(taken): address already in use (another process listens there)")
            }
        }
        try await holder.close()
        try await group.shutdownGracefully()
    }

    @Test func addressesReadAsUsersWriteThem() throws {
        #expect(ProxyServer.display(host: "::1", port: 8443) == "[::1]:8443")
        #expect(ProxyServer.display(host: "0.0.0.0", port: 8080) == "0.0.0.0:8080")
        #expect(ProxyServer.display(try SocketAddress(ipAddress: "127.0.0.1", port: 80)) == "127.0.0.1:80")
    }
}
