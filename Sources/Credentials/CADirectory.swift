/// The operator's directory that `pier ca init` and `pier ca issue` write: `ca.crt`, `ca.key`,
/// `controller.crt`, `controller.key`, `proxy.crt`, `proxy.key`. Keys are written 0600, certificates 0644,
/// and no file is ever overwritten.
public struct CADirectory: Sendable {
    /// The directory.
    public let path: String

    /// The directory at `path` (created by `write` if needed).
    public init(_ path: String) {
        self.path = path
    }

    /// `ca.crt`, `controller.crt`, … with the directory.
    public func file(_ name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }

    /// Loads `ca.crt` and `ca.key` to issue new leaves.
    public func loadCA() throws -> ClusterCA {
        let certificatePath = file("ca.crt"), keyPath = file("ca.key")
        let certificate = try CredentialFiles.read(certificatePath), key = try CredentialFiles.read(keyPath)
        return try ClusterCA(certificatePEM: String(decoding: certificate, as: UTF8.self),
                             privateKeyPEM: String(decoding: key, as: UTF8.self),
                             certificatePath: certificatePath, keyPath: keyPath)
    }

    /// Writes the CA (when given) and the leaves; returns the paths written. Fails with
    /// `CredentialError.exists` before writing anything if one of the files exists.
    @discardableResult
    public func write(ca: ClusterCA?, leaves: [IssuedCredential]) throws -> [String] {
        var files: [(name: String, contents: String, mode: UInt32)] = []
        if let ca { files += [("ca.crt", ca.certificatePEM, 0o644), ("ca.key", ca.privateKeyPEM, 0o600)] }
        for leaf in leaves {
            files += [("\(leaf.role).crt", leaf.certificatePEM, 0o644), ("\(leaf.role).key", leaf.privateKeyPEM, 0o600)]
        }
        do {
            try FileIO.makeDirectory(path)
        } catch {
            throw CredentialError.writeFailed(path: path, reason: error.reason)
        }
        for name in files.map(\.name) where FileIO.exists(file(name)) { throw CredentialError.exists(path: file(name)) }
        for (name, contents, mode) in files {
            do {
                // O_EXCL again: a file created since the check above is not overwritten either.
                try FileIO.createExclusive(file(name), Array(contents.utf8), mode: mode)
            } catch where error.alreadyExists {
                throw CredentialError.exists(path: file(name))
            } catch {
                throw CredentialError.writeFailed(path: file(name), reason: error.reason)
            }
        }
        return files.map { file($0.name) }
    }
}

extension ClusterCA {
    /// The concatenation of CA files, for a CA rotation (docs/credentials.md): every file must hold only
    /// CA certificates. Throws `CredentialError` naming the first file that does not.
    public static func bundle(paths: [String]) throws -> String {
        var out = ""
        for path in paths {
            for certificate in try CredentialFiles.certificates(at: path) {
                guard try CredentialFiles.parse(certificate, path: path).isCertificateAuthority else {
                    throw CredentialError.invalid(path: path, reason: "holds a certificate that is not a CA (basicConstraints CA:true missing)")
                }
            }
            let text = String(decoding: try CredentialFiles.read(path), as: UTF8.self)
            out += text.withFinalNewline
        }
        return out
    }
}
