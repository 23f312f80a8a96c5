import LabelConfig
import RouteModel

/// Pier's standalone configuration, as read from a TOML file: the entrypoint, proxy settings and the
/// services with their labels and endpoints.
public struct StandaloneConfiguration: Hashable, Sendable {
    /// Address and port of the HTTP entrypoint (`[Entrypoints] HTTP`).
    public var httpHost: String = "0.0.0.0"
    /// Port of the HTTP entrypoint.
    public var httpPort: Int = 8080
    /// Only services of this service cluster are routed (`ServiceCluster`).
    public var serviceCluster: String = ""
    /// Proxy settings (`[Config]`).
    public var settings = ProxySettings()
    /// The services (`[[Services]]`).
    public var services: [ServiceDescription] = []

    /// Creates the default configuration: HTTP on 0.0.0.0:8080, no services.
    public init() {}

    /// The builder for this configuration's route table.
    public var builder: RouteTableBuilder {
        RouteTableBuilder(settings: settings, serviceCluster: serviceCluster)
    }
}
