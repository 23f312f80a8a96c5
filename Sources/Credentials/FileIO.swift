#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The few POSIX file operations credentials and the state file need, with `errno` turned into text.
enum FileIO {
    struct Failure: Error {
        /// The `errno` value.
        let code: Int32
        var reason: String { String(cString: strerror(code)) }
        var alreadyExists: Bool { code == EEXIST }
    }

    /// The whole file, or nil when it does not exist.
    static func contents(of path: String) throws(Failure) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw Failure(code: errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(code: errno)
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    /// Creates `path`, which must not exist (`O_EXCL`), with `mode`, writes `bytes` and fsyncs it. A partly
    /// written file is removed.
    static func createExclusive(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(Failure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        if fd < 0 { throw Failure(code: errno) }
        do throws(Failure) {
            // The umask may have cleared bits of `mode` (never added any); set it exactly.
            if fchmod(fd, mode) != 0 { throw Failure(code: errno) }
            try writeAll(fd, bytes)
            if fsync(fd) != 0 { throw Failure(code: errno) }
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        close(fd)
    }

    /// Replaces `path` atomically with `bytes` (mode 0600): a temporary file in the same folder, fsync,
    /// rename over `path`, fsync of the folder. A reader sees the old file or the new one, never a part.
    static func replaceAtomically(_ path: String, _ bytes: [UInt8]) throws(Failure) {
        let folder = parent(of: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let temporary = folder + "/." + name + ".tmp-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        try createExclusive(temporary, bytes, mode: 0o600)
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw Failure(code: code)
        }
        // The rename is durable only once the folder's entry is on disk.
        let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory < 0 { throw Failure(code: errno) }
        defer { close(directory) }
        if fsync(directory) != 0 { throw Failure(code: errno) }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(code: errno)
            }
            offset += written
        }
    }
}

extension FileIO {
    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    /// Creates `path` (mode 0700) and its missing parents.
    static func makeDirectory(_ path: String) throws(Failure) {
        if path.isEmpty || exists(path) { return }
        let parentPath = parent(of: path)
        if parentPath != path { try makeDirectory(parentPath) }
        if mkdir(path, 0o700) != 0, errno != EEXIST { throw Failure(code: errno) }
    }
}
