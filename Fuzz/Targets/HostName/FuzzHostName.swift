import FuzzSupport
import RouteModel

/// Host-name normalisation (`HostName.normalize`, used for `Host` headers, SNI and label values) and the host
/// map routes are looked up in.
///
/// Input: a host pattern for the map, a NUL byte, then the raw host.
///
/// Invariants: the `String` and `Substring` paths agree; a normalised name is empty or made of RFC 3986 host
/// characters only, without upper case, port, trailing dot or empty label, and normalising it again changes
/// nothing; a name found through a wildcard ends in `.` + that wildcard's suffix.
enum FuzzHostName: FuzzTarget {
    /// RFC 3986 `reg-name`: unreserved, sub-delims, `%`.
    static let hostCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=%".utf8)

    static func run(_ input: inout FuzzInput) {
        let pattern = input.string()
        let raw = input.remainingString()
        let name = HostName.normalize(raw)
        fuzzCheck(name == HostName.normalize(Substring(raw)), "String and Substring normalise \(raw.debugDescription) differently")
        fuzzCheck(!name.utf8.contains { $0 >= 0x41 && $0 <= 0x5A }, "\(name.debugDescription) has upper case")
        fuzzCheck(HostName.normalize(name) == name, "normalising \(raw.debugDescription) twice: \(name.debugDescription) then \(HostName.normalize(name).debugDescription)")
        // The fast path (`isNormal`: the value is its own normal form, no copy) agrees with the full one.
        fuzzCheck(!HostName.isNormal(raw) || name == raw, "\(raw.debugDescription) reads as normal but normalises to \(name.debugDescription)")
        fuzzCheck(name.isEmpty || name.hasPrefix("[") || HostName.isNormal(name), "the normal form \(name.debugDescription) does not read as normal")
        if !name.hasPrefix("[") {
            fuzzCheck(name.utf8.allSatisfy(hostCharacters.contains), "\(name.debugDescription) (from \(raw.debugDescription)) is not a host name")
            fuzzCheck(!name.hasSuffix(".") && !name.contains(".."), "\(name.debugDescription) (from \(raw.debugDescription)) has an empty label")
        }

        var map = HostMap<String>()
        let key = HostPattern(HostName.normalize(pattern))
        map[key] = pattern
        if let found = map.lookup(name) {
            switch key {
            case .exact(let exact): fuzzCheck(exact == name, "\(name.debugDescription) found under \(exact.debugDescription)")
            case .wildcard(let suffix): fuzzCheck(name.hasSuffix("." + suffix), "\(name.debugDescription) found under *.\(suffix)")
            }
            fuzzCheck(found == pattern, "lookup returned another value")
        }
    }
}

#if PIER_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { FuzzHostName.fuzzOne(data, size) }
#else
@main extension FuzzHostName {}
#endif
