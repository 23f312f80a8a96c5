import FuzzSupport
import Providers
import RouteModel

/// The TOML configuration reader: any text through `ConfigFileParser.parse` (Pier's own `TOMLReader`), and a
/// usable result through the route table builder, as the file provider does on every save.
///
/// Input: the file.
///
/// Invariants: a file is either refused with an error issue or read; reading is deterministic; a read
/// file's entrypoint ports are within 0…65535 (0: any free port) and its services compile without trapping.
enum FuzzConfigFile: FuzzTarget {
    static func run(_ input: inout FuzzInput) {
        let text = input.remainingString()
        let (config, issues) = ConfigFileParser.parse(text)
        guard let config else {
            fuzzCheck(issues.contains { $0.severity == .error }, "refused without an error issue")
            return
        }
        let again = ConfigFileParser.parse(text)
        fuzzCheck(again.0 == config && again.1 == issues, "reading is not deterministic")
        fuzzCheck((0...65535).contains(config.httpPort) && (0...65535).contains(config.httpsPort), "entrypoint port out of range")
        _ = config.builder(certificates: nil).build(config.services)
    }
}

#if PIER_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { FuzzConfigFile.fuzzOne(data, size) }
#else
@main extension FuzzConfigFile {}
#endif
