import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

@testable import Credentials

/// What one connection from a client configuration to a server configuration achieved.
struct HandshakeOutcome: Sendable, CustomStringConvertible {
    /// The client's `ping` came back through TLS: both ends accepted each other.
    var echoed = false
    var protocolNegotiated: String?
    var clientErrors: [String] = []
    var serverErrors: [String] = []
    /// `CredentialFiles.publicKeyID(of:)` of the client certificate the server saw.
    var clientKeyID: String?

    var description: String {
        "echoed=\(echoed) alpn=\(protocolNegotiated ?? "-") client errors=\(clientErrors) server errors=\(serverErrors)"
    }
}

/// Listens on 127.0.0.1:0 with `server`, connects with `client` (server name `pier-controller`, as the
/// channel does), sends `ping` once TLS is up and waits for the echo, at most 5 s.
func handshake(server: TLSConfiguration, client: TLSConfiguration) async throws -> HandshakeOutcome {
    let group = MultiThreadedEventLoopGroup.singleton
    let serverContext = try NIOSSLContext(configuration: server)
    let clientContext = try NIOSSLContext(configuration: client)
    let serverSide = NIOLockedValueBox(ServerLog())
    let listener = try await ServerBootstrap(group: group)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverContext))
                try channel.pipeline.syncOperations.addHandler(EchoHandler(log: serverSide))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    let promise = group.next().makePromise(of: HandshakeOutcome.self)
    let connection = try await ClientBootstrap(group: group)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    NIOSSLClientHandler(context: clientContext, serverHostname: CredentialFiles.controllerServerName))
                try channel.pipeline.syncOperations.addHandler(PingHandler(promise: promise))
            }
        }
        .connect(host: "127.0.0.1", port: listener.localAddress!.port!).get()
    let timeout = connection.eventLoop.scheduleTask(in: .seconds(5)) { connection.close(promise: nil) }
    var outcome = try await promise.futureResult.get()
    timeout.cancel()
    try? await connection.close()
    // The server's side of a refusal is logged as its connection ends.
    for _ in 0..<100 where !serverSide.withLockedValue({ $0.closed }) { try await Task.sleep(for: .milliseconds(20)) }
    outcome.serverErrors = serverSide.withLockedValue { $0.errors }
    outcome.clientKeyID = serverSide.withLockedValue { $0.clientKeyID }
    try await listener.close()
    return outcome
}

private struct ServerLog {
    var errors: [String] = []
    var closed = false
    var clientKeyID: String?
}

/// Echoes what it reads; records the client's key id, errors and the end of the connection.
private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let log: NIOLockedValueBox<ServerLog>

    init(log: NIOLockedValueBox<ServerLog>) { self.log = log }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent,
           let peer = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate {
            log.withLockedValue { $0.clientKeyID = CredentialFiles.publicKeyID(of: peer) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        log.withLockedValue { $0.errors.append(String(describing: error)) }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        log.withLockedValue { $0.closed = true }
    }
}

/// Sends `ping` and completes the promise when it comes back or the connection ends.
private final class PingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let promise: EventLoopPromise<HandshakeOutcome>
    var outcome = HandshakeOutcome()
    var received = ""
    var done = false

    init(promise: EventLoopPromise<HandshakeOutcome>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let negotiated) = event as? TLSUserEvent {
            outcome.protocolNegotiated = negotiated
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "ping")), promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
        if received == "ping" {
            outcome.echoed = true
            finish()
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        outcome.clientErrors.append(String(describing: error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
    }

    private func finish() {
        if done { return }
        done = true
        promise.succeed(outcome)
    }
}
