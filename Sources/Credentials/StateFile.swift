import Foundation

/// Reads and writes the proxy's state file; the content is `StateKey`'s business.
public enum StateFile {
    /// Replaces `path` with `bytes`, mode 0600, atomically and durably: a temporary file in the same folder
    /// (`O_CREAT|O_EXCL`, 0600), written in full, fsync, rename over `path`, fsync of the folder. Proxies
    /// sharing a node's volume thus never read a partial file.
    public static func write(path: String, bytes: Data) throws {
        do {
            try FileIO.replaceAtomically(path, [UInt8](bytes))
        } catch {
            throw StateFileError.io(path: path, reason: error.reason)
        }
    }

    /// The file's bytes, or nil when there is none.
    public static func read(path: String) throws -> Data? {
        do {
            return try FileIO.contents(of: path).map { Data($0) }
        } catch {
            throw StateFileError.io(path: path, reason: error.reason)
        }
    }
}
