import Foundation

/// The driver of a fuzz target built without libFuzzer (a plain `swift build`): replays the files and
/// directories it is given, then, with `-max_total_time=S`, runs random mutations of them for S seconds.
/// No coverage guidance: it keeps the targets building and their seeds passing where libFuzzer is missing.
/// It takes libFuzzer's spelling of the options it knows (`-max_total_time=`, `-seed=`) and ignores others.
enum FuzzReplay {
    static func run(arguments: [String], body: (inout FuzzInput) -> Void) -> Int32 {
        var seconds = 0.0
        var seed = UInt64(Date().timeIntervalSince1970 * 1000)
        var paths: [String] = []
        for argument in arguments {
            if let value = argument.value(of: "-max_total_time=") {
                seconds = Double(value) ?? 0
            } else if let value = argument.value(of: "-seed=") {
                seed = UInt64(value) ?? seed
            } else if !argument.hasPrefix("-") {
                paths.append(argument)
            }
        }
        let corpus = paths.flatMap(files(at:)).map { (path: $0, bytes: [UInt8](FileManager.default.contents(atPath: $0) ?? Data())) }
        for entry in corpus {
            // A crash leaves this line as the last one: it names the input to turn into a regression test.
            print("replaying \(entry.path)")
            var input = FuzzInput(entry.bytes)
            body(&input)
        }
        var generator = SplitMix64(seed: seed)
        let start = Date()
        var runs = 0
        while Date().timeIntervalSince(start) < seconds {
            var bytes = corpus.isEmpty ? [] : corpus[Int(generator.next() % UInt64(corpus.count))].bytes
            mutate(&bytes, &generator)
            var input = FuzzInput(bytes)
            body(&input)
            runs += 1
        }
        print("replayed \(corpus.count) inputs, ran \(runs) random mutations (seed \(seed))")
        return 0
    }

    private static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { path + "/" + $0 }
    }

    /// A few byte-level edits (flip, insert, delete, duplicate a run), like libFuzzer's simplest mutators.
    private static func mutate(_ bytes: inout [UInt8], _ generator: inout SplitMix64) {
        for _ in 0...(generator.next() % 4) {
            let position = bytes.isEmpty ? 0 : Int(generator.next() % UInt64(bytes.count))
            switch generator.next() % 4 {
            case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(truncatingIfNeeded: 1 << (generator.next() % 8))
            case 1: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
            case 2 where !bytes.isEmpty: bytes.remove(at: position)
            default:
                let run = bytes[position...].prefix(Int(generator.next() % 8))
                bytes.insert(contentsOf: run, at: position)
            }
        }
    }
}

/// A small, seedable generator, so that a failing random run can be repeated with `-seed=`.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension String {
    fileprivate func value(of option: String) -> String? {
        hasPrefix(option) ? String(dropFirst(option.count)) : nil
    }
}
