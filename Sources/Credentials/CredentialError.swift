/// Why credentials could not be made, loaded or written. Each case names the file at fault and never
/// carries key material.
public enum CredentialError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file does not exist.
    case missing(path: String)
    /// The file exists but cannot be read (permissions, a directory, I/O).
    case unreadable(path: String, reason: String)
    /// The file was read but its content is not what it must be.
    case invalid(path: String, reason: String)
    /// The leaf certificate was not signed by any CA certificate in the CA file.
    case notIssuedByCA(certificate: String, ca: String)
    /// The leaf certificate's extended key usage is not the role's (a controller certificate mounted on a proxy).
    case wrongRole(path: String, expected: CredentialRole)
    /// The private key does not belong to the certificate.
    case keyMismatch(certificate: String, key: String)
    /// A file that must be new already exists: credentials are never overwritten.
    case exists(path: String)
    /// Writing a file failed.
    case writeFailed(path: String, reason: String)

    /// One line naming the file and what is wrong with it.
    public var description: String {
        switch self {
        case .missing(let path): return "credential file \(path): not found"
        case .unreadable(let path, let reason): return "credential file \(path): cannot be read: \(reason)"
        case .invalid(let path, let reason): return "credential file \(path): \(reason)"
        case .notIssuedByCA(let certificate, let ca):
            return "credential file \(certificate): not issued by any CA certificate in \(ca)"
        case .wrongRole(let path, let expected):
            return "credential file \(path): not a \(expected) certificate (extended key usage \(expected == .controller ? "serverAuth" : "clientAuth") missing)"
        case .keyMismatch(let certificate, let key): return "credential file \(key): not the private key of \(certificate)"
        case .exists(let path): return "\(path) already exists: credentials are never overwritten; choose another directory"
        case .writeFailed(let path, let reason): return "cannot write \(path): \(reason)"
        }
    }
}
