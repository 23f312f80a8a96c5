/// Pier's version, as `pier version` and the `x-server-info` header print it.
public enum PierVersion {
    /// The release version.
    public static let version = "0.1.0"
    /// `pier/<version>`.
    public static let serverInfo = "pier/\(version)"
}
