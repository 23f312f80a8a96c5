// pier-table-bench: route table scale micro-benchmark (bench/ scenario f).
//
// For each size N it builds N services (`svc-i`, host `host<i>.bench.test`, one endpoint each), times
// `RouteTableBuilder.build` (the whole compile: label parsing, validation, grouping, index) and then times
// `RouteTable.decide(host:target:)` for hosts spread over the whole table (4,096 distinct names: at 100,000
// services each lookup reaches parts of the table no cache holds), and again for 64 hot names (what the
// lookup itself costs, the table's size aside). Prints one line per size:
//
//   table-bench services=N compile_ms=M compile_runs=R lookup_ns=L lookup_hot_ns=H lookups=K routes=X
//
// compile_ms is the median of R runs; lookup_ns and lookup_hot_ns are medians over several passes of K
// lookups each.
// Usage: pier-table-bench [--sizes 1000,10000,100000] [--lookups 2000000] [--compile-runs 5]
import LabelConfig
import RouteModel

var sizes = [1_000, 10_000, 100_000]
var lookupCount = 2_000_000
var compileRuns = 5
var args = CommandLine.arguments.dropFirst()
while let arg = args.popFirst() {
    switch arg {
    case "--sizes":
        guard let v = args.popFirst() else { fatalError("--sizes needs a value") }
        sizes = v.split(separator: ",").map { Int($0)! }
    case "--lookups":
        guard let v = args.popFirst(), let n = Int(v) else { fatalError("--lookups needs a number") }
        lookupCount = n
    case "--compile-runs":
        guard let v = args.popFirst(), let n = Int(v) else { fatalError("--compile-runs needs a number") }
        compileRuns = max(1, n)
    default:
        fatalError("usage: pier-table-bench [--sizes 1000,10000,100000] [--lookups N] [--compile-runs N]")
    }
}

func services(_ n: Int) -> [ServiceDescription] {
    (0..<n).map { i in
        ServiceDescription(
            name: "svc-\(i)",
            labels: ["com.docker.lb.hosts": "host\(i).bench.test"],
            endpoints: [ServiceDescription.Address(host: "127.0.0.1", port: 10_000 + i % 50_000)]
        )
    }
}

func ms(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) * 1e3 + Double(c.attoseconds) / 1e15
}

/// `x` with `digits` decimals, without Foundation.
func fixed(_ x: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let v = Int(x * scale + 0.5)  // x ≥ 0 here; no libm needed
    let whole = v / Int(scale), frac = v % Int(scale)
    guard digits > 0 else { return "\(whole)" }
    let f = String(frac)
    return "\(whole)." + String(repeating: "0", count: digits - f.count) + f
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

let clock = ContinuousClock()

/// Median ns per `decide` over 5 passes of `perPass` lookups cycling through `hosts` (after a warm-up pass).
func lookupNanos(_ table: RouteTable, hosts: [String], perPass: Int) -> Double {
    var forwarded = 0
    for i in 0..<min(perPass, 100_000) {
        if case .forward = table.decide(host: hosts[i % hosts.count], target: "/1k") { forwarded &+= 1 }
    }
    var passes: [Double] = []
    for _ in 0..<5 {
        let d = clock.measure {
            for i in 0..<perPass {
                if case .forward = table.decide(host: hosts[i % hosts.count], target: "/1k") { forwarded &+= 1 }
            }
        }
        passes.append(ms(d) * 1e6 / Double(perPass))
    }
    precondition(forwarded > 0)
    return median(passes)
}

let settings = ProxySettings(clientMaxBodySize: nil, accessLog: false)

for n in sizes {
    let input = services(n)
    let builder = RouteTableBuilder(settings: settings)
    var compileTimes: [Double] = []
    var table = RouteTable.empty(settings: settings)
    for _ in 0..<compileRuns {
        var result: RouteTableBuilder.Result?
        let d = clock.measure { result = builder.build(input) }
        compileTimes.append(ms(d))
        table = result!.table
        precondition(!result!.hasErrors, "the generated table has errors: \(result!.issues.prefix(3))")
    }
    precondition(table.routes.count == n, "expected \(n) routes, got \(table.routes.count)")

    // Host headers as a client sends them, spread over the table with a fixed stride (deterministic, and
    // touching the whole table rather than one hot entry). Built before timing.
    let distinct = min(n, 4096)
    let stride = max(1, n / distinct)
    let hosts = (0..<distinct).map { "host\(($0 * stride + $0 % 7) % n).bench.test" }
    let perPass = max(1, lookupCount / 5)
    let spread = lookupNanos(table, hosts: hosts, perPass: perPass)
    // The same lookup for 64 names spread over the table, over and over: their entries stay in cache.
    let hot = lookupNanos(table, hosts: (0..<64).map { hosts[$0 * distinct / 64] }, perPass: perPass)
    print("table-bench services=\(n) compile_ms=\(fixed(median(compileTimes), 2)) compile_runs=\(compileRuns)"
          + " lookup_ns=\(fixed(spread, 1)) lookup_hot_ns=\(fixed(hot, 1)) lookups=\(perPass * 5) routes=\(table.routes.count)")
}
