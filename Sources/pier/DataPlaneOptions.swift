import ArgumentParser
import ProxyCore

/// Data-plane options shared by `serve` and `proxy`.
struct DataPlaneOptions: ParsableArguments {
    @Option(help: "HTTP/1.1 codec: pier (Pier's own strict parser, the default) or nio (NIO's llhttp-based one, the previous data plane).")
    var http1Codec: String = HTTP1Implementation.pier.rawValue

    func validate() throws {
        if HTTP1Implementation(rawValue: http1Codec) == nil { throw ValidationError("--http1-codec must be pier or nio") }
    }

    var http1: HTTP1Implementation { HTTP1Implementation(rawValue: http1Codec) ?? .pier }
}
