import ArgumentParser
import Credentials
import Logging
import Providers

#if canImport(Glibc)
import Glibc
#endif

/// What a controller keeps in step besides the table: its own certificate secrets, the proxies' networks.
struct UpkeepOptions: ParsableArguments {
    @Flag(help: "Do not attach the certificate secrets that labels name to the controller's own service ($PIER_SERVICE_ID); attach them yourself.")
    var noAttachSecrets = false

    @Flag(help: "Do not change the proxy service's networks; services on a network the proxies are not on are left out (Interlock's explicit Networks).")
    var noManageNetworks = false

    @Option(help: "The proxy service whose networks follow the routed services (default: the service labelled com.docker.pier.role=proxy in the controller's stack).")
    var proxyService: String?

    func settings(logger: Logger) -> UpkeepSettings {
        var settings = UpkeepSettings()
        settings.controllerServiceID = ClusterOptions.environment("PIER_SERVICE_ID")
        if settings.controllerServiceID == nil, !noAttachSecrets {
            logger.warning("PIER_SERVICE_ID is not set: certificate secrets are not attached to the controller service (set it to {{.Service.ID}}, as deploy/pier-stack.yml does)")
        }
        settings.attachSecrets = !noAttachSecrets
        settings.manageNetworks = !noManageNetworks
        settings.proxyServiceName = proxyService
        settings.secretOwner = (uid: "\(getuid())", gid: "\(getgid())")
        settings.reservedNames = CredentialFiles.reservedFileNames
        return settings
    }
}
