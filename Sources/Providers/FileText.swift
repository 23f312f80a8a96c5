#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole text file — the configuration file, a certificate, a key — and says why when it cannot.
///
/// Only regular files are read: a directory or a device (`/dev/null`) given by mistake would otherwise read
/// as an empty file, and an empty configuration is valid, so Pier would start routing nothing without a word.
enum FileText {
    /// Why a file could not be read, in a few words (`not found`, `is a directory`, `permission denied` …).
    struct Failure: Error, Equatable, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// The file's text, or why it cannot be read.
    static func read(_ path: String) -> Result<String, Failure> {
        var st = stat()
        guard stat(path, &st) == 0 else { return .failure(Failure(reason: reason(errno))) }
        let type = st.st_mode & S_IFMT
        if type == S_IFDIR { return .failure(Failure(reason: "is a directory, not a file")) }
        if type != S_IFREG {
            return .failure(Failure(reason: "not a regular file (\(kind(type)))"))
        }
        guard let file = fopen(path, "rb") else { return .failure(Failure(reason: reason(errno))) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
        }
        if ferror(file) != 0 { return .failure(Failure(reason: reason(errno))) }
        return .success(String(decoding: bytes, as: UTF8.self))
    }

    private static func reason(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "not found"
        case EACCES, EPERM: return "permission denied"
        case ENOTDIR: return "a part of the path is not a directory"
        case EISDIR: return "is a directory, not a file"
        default: return String(cString: strerror(code)).lowercased()
        }
    }

    private static func kind(_ type: mode_t) -> String {
        switch type {
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a pipe"
        case S_IFSOCK: return "a socket"
        default: return "not a file"
        }
    }
}
