import NIOSSL

extension CredentialFiles {
    /// The controller's listener: its leaf and key; trust roots the CA file only (never the system store);
    /// a client certificate required and verified against them, without hostname check
    /// (`.noHostnameVerification` makes NIOSSL set `SSL_VERIFY_FAIL_IF_NO_PEER_CERT`); BoringSSL checks the
    /// client's EKU (clientAuth); TLS 1.3 only; ALPN `h2`.
    public func serverConfiguration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(leaf)], privateKey: .privateKey(leafKey))
        configuration.certificateVerification = .noHostnameVerification
        applyChannelSettings(&configuration)
        return configuration
    }

    /// The proxy's connection to a controller: its leaf and key; trust roots the CA file only; full
    /// verification, so pass `CredentialFiles.controllerServerName` as the `NIOSSLClientHandler`'s
    /// `serverHostname` (the controller's SAN is checked, not the dialled address); BoringSSL checks the
    /// server's EKU (serverAuth); TLS 1.3 only; ALPN `h2`.
    public func clientConfiguration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = [.certificate(leaf)]
        configuration.privateKey = .privateKey(leafKey)
        configuration.certificateVerification = .fullVerification
        applyChannelSettings(&configuration)
        return configuration
    }

    private func applyChannelSettings(_ configuration: inout TLSConfiguration) {
        configuration.trustRoots = .certificates(trustRoots)
        configuration.additionalTrustRoots = []
        // Both ends are Pier: nothing older needs to be spoken.
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.applicationProtocols = ["h2"]
    }
}
