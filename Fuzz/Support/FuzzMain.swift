import Foundation

/// A fuzz target: `run` takes one input and checks it; a trap (`fuzzCheck`, `precondition`) is a failure.
///
/// Each target declares its two entry points, one per build (libFuzzer brings its own `main`, which
/// would clash with a `@main`):
/// ```
/// #if PIER_LIBFUZZER
/// @_cdecl("LLVMFuzzerTestOneInput")
/// public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { Target.fuzzOne(data, size) }
/// #else
/// @main extension Target {}
/// #endif
/// ```
public protocol FuzzTarget {
    static func run(_ input: inout FuzzInput)
}

extension FuzzTarget {
    /// One libFuzzer input.
    public static func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
        var input = FuzzInput(data, size)
        run(&input)
        return 0
    }

    /// The replay driver's entry point (a build without libFuzzer; see `FuzzReplay`).
    public static func main() {
        exit(FuzzReplay.run(arguments: Array(CommandLine.arguments.dropFirst()), body: run))
    }
}
