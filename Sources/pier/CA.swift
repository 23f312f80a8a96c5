import ArgumentParser
import Credentials
import DockerEngine
import Foundation

/// `pier ca`: the cluster CA and the controller's and proxies' credentials (docs/credentials.md).
struct CA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Create the cluster CA and the controller's and proxies' certificates (docs/credentials.md).",
        subcommands: [Init.self, Issue.self, Bundle.self]
    )

    /// Runs `body`; a credential or engine error is printed as one line on stderr and exits 1.
    static func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as CredentialError {
            FileHandle.standardError.write(Data("pier ca: \(error)\n".utf8))
            throw ExitCode(1)
        } catch let error as DockerError {
            FileHandle.standardError.write(Data("pier ca: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a new cluster CA and one controller and one proxy certificate in a new directory.",
            discussion: "Writes ca.crt, ca.key, controller.crt, controller.key, proxy.crt and proxy.key (keys 0600); never overwrites a file. Keep ca.key out of the cluster.")

        @Option(help: "The directory to write (created if missing).")
        var out: String

        @Flag(help: "Also create the five Docker secrets pier-ca.crt-SUFFIX, pier-controller.{crt,key}-SUFFIX, pier-proxy.{crt,key}-SUFFIX (never the CA key).")
        var docker = false

        @Option(help: "Suffix of the Docker secrets' names (the stack's PIER_CREDENTIALS).")
        var suffix = "v1"

        @Option(help: "Docker Engine endpoint for the secrets; default: $DOCKER_HOST or unix:///var/run/docker.sock. Implies --docker.")
        var dockerHost: String?

        func run() async throws {
            try await CA.reporting {
                let ca = try ClusterCA.generate()
                let controller = try ca.issue(.controller), proxy = try ca.issue(.proxy)
                for path in try CADirectory(out).write(ca: ca, leaves: [controller, proxy]) { print("wrote \(path)") }
                guard docker || dockerHost != nil else { return }
                let environment = ProcessInfo.processInfo.environment
                let endpoint = try dockerHost.map { try DockerEndpoint(parsing: $0, environment: environment) }
                    ?? DockerEndpoint.fromEnvironment(environment)
                let client = try DockerClient(endpoint: endpoint)
                do {
                    let prefix = try await client.negotiate()
                    let secrets = [(CredentialFiles.caFileName, ca.certificatePEM),
                                   (CredentialRole.controller.certificateFileName, controller.certificatePEM),
                                   (CredentialRole.controller.keyFileName, controller.privateKeyPEM),
                                   (CredentialRole.proxy.certificateFileName, proxy.certificatePEM),
                                   (CredentialRole.proxy.keyFileName, proxy.privateKeyPEM)]
                    for (file, contents) in secrets {
                        let name = "\(file)-\(suffix)"
                        _ = try await client.createSecret(name: name, data: Array(contents.utf8), prefix: prefix)
                        print("created secret \(name)")
                    }
                } catch {
                    await client.shutdown()
                    throw error
                }
                await client.shutdown()
            }
        }
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a new controller or proxy certificate from an existing CA (leaf rotation).",
            discussion: "Reads ca.crt and ca.key from --ca; writes ROLE.crt and ROLE.key (0600) into --out; never overwrites a file.")

        @Option(help: "The CA's directory (ca.crt, ca.key).")
        var ca: String

        @Option(help: "controller or proxy.")
        var role: String

        @Option(help: "The directory to write (created if missing).")
        var out: String

        func validate() throws {
            if CredentialRole(rawValue: role) == nil { throw ValidationError("--role must be controller or proxy") }
        }

        func run() async throws {
            try await CA.reporting {
                let authority = try CADirectory(ca).loadCA()
                let leaf = try authority.issue(CredentialRole(rawValue: role)!)
                for path in try CADirectory(out).write(ca: nil, leaves: [leaf]) { print("wrote \(path)") }
            }
        }
    }

    struct Bundle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print several CA certificate files as one trust bundle, for a CA rotation.",
            discussion: "Every file must hold only CA certificates. Example: pier ca bundle old/ca.crt new/ca.crt > ca-bundle.crt")

        @Argument(help: "CA certificate files (PEM).")
        var files: [String]

        func validate() throws {
            if files.count < 2 { throw ValidationError("give at least two CA certificate files") }
        }

        func run() async throws {
            try await CA.reporting {
                print(try ClusterCA.bundle(paths: files), terminator: "")
            }
        }
    }
}
