import Admin
import ArgumentParser
import ControlPlane
import Credentials
import DockerEngine
import Foundation
import LabelConfig
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Prometheus
import Providers
import ProxyCore
import RouteModel
import Publishing
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `pier health` and `pier status`: the probes of a running Pier, through its admin entrypoint.
struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when the local Pier is ready (GET /readyz on its admin entrypoint), else 1: the image's HEALTHCHECK.")

    @Option(help: "The admin entrypoint (default: $PIER_ADMIN or 127.0.0.1:8081).")
    var admin: String?

    /// The admin entrypoint to ask: `--admin`, `$PIER_ADMIN`, the default; a wildcard address means loopback.
    static func address(_ admin: String?) throws -> (host: String, port: Int) {
        let text = admin ?? ClusterOptions.environment("PIER_ADMIN") ?? AdminConfiguration.defaultAddress
        guard let address = StandaloneConfiguration.parseListenAddress(text) else { throw ValidationError("--admin must be address:port") }
        return (address.host == "0.0.0.0" ? "127.0.0.1" : address.host, address.port)
    }

    func run() async throws {
        let address = try Self.address(admin)
        let (status, body) = await AdminProbe.get(host: address.host, port: address.port, path: "/readyz", timeout: .seconds(2))
        print(body.trimmingCharacters(in: .whitespacesAndNewlines))
        if status != 200 { throw ExitCode(1) }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print what the local Pier is doing (its admin /api/status): a controller lists its proxies.")

    @Option(help: "The admin entrypoint (default: $PIER_ADMIN or 127.0.0.1:8081).")
    var admin: String?

    @Option(help: "File holding the admin entrypoint's bearer token, when it wants one.")
    var adminTokenFile: String?

    @Flag(help: "Print the JSON as it is.")
    var json = false

    func run() async throws {
        let address = try Health.address(admin)
        let token = try AdminOptions.token(file: adminTokenFile)
        let (status, body) = await AdminProbe.get(host: address.host, port: address.port, path: "/api/status", token: token,
                                                   timeout: .seconds(2))
        guard status == 200 else {
            print("pier status: \(body.trimmingCharacters(in: .whitespacesAndNewlines))")
            throw ExitCode(1)
        }
        if json { print(body); return }
        guard let document = try? StatusJSON.decode(body) else { print(body); return }
        print(Self.render(document, now: Date().timeIntervalSince1970), terminator: "")
    }

    /// The status in lines: the role's headline, a controller's proxies, services not routed and issues.
    static func render(_ status: StatusDocument, now: Double) -> String {
        let routes = status.routes.count { $0.route != "default" }
        let table = "version \(status.version ?? "none"), generation \(status.generation.map(String.init) ?? "-"), \(routes) routes"
        var out: String
        switch status.role {
        case "controller":
            out = "controller \(status.name ?? "-"): \(table)\n" + render(proxies: status.proxies ?? [], current: status.version, now: now)
        case "proxy":
            let link = status.controller
            out = "proxy \(status.name ?? "-"): controller \(link?.name ?? "none") \(link?.address.map { "(\($0))" } ?? ""), \(table)\n"
            if let problem = link?.problem { out += "last problem: \(problem)\n" }
        default:
            out = "\(status.role): \(table)\n"
        }
        if let why = status.notReady { out += "not ready: \(why)\n" }
        let unrouted = status.services.filter { $0.state != "routed" && $0.state != "ignored" }
        if !unrouted.isEmpty {
            out += "services not routed:\n"
            for service in unrouted { out += "  \(service.name): \(service.state)\(service.reason.map { " (\($0))" } ?? "")\n" }
        }
        if !status.issues.isEmpty {
            out += "issues (\(status.issues.count)):\n"
            for issue in status.issues {
                let subject = (issue.service.map { "service \"\($0)\": " } ?? "") + (issue.key.map { "\($0)" + (issue.value.map { "=\"\($0)\"" } ?? "") + ": " } ?? "")
                out += "  \(issue.severity): \(subject)\(issue.reason)\n"
            }
        }
        return out
    }

    /// The controller's table of proxies.
    static func render(proxies: [SubscriberStatus], current version: String?, now: Double = Date().timeIntervalSince1970) -> String {
        var lines = ["proxies (\(proxies.count)):"]
        let rows = [["NAME", "NODE", "VERSION", "ACKED", "LAST SEEN", "ADDRESS"]] + proxies.map { proxy in
            let current = proxy.sent == version ? " (current)" : ""
            let acked = proxy.nack.map { "NACK: \($0)" } ?? (proxy.acked == proxy.sent && proxy.acked != nil ? "yes" : "no")
            return [proxy.name, proxy.node, (proxy.sent ?? "-") + current, acked, "\(Int(max(0, now - proxy.lastSeen))) s", proxy.address]
        }
        let widths = (0..<6).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            lines.append("  " + row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
