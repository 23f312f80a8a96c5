import FuzzSupport
import LabelConfig
import RouteModel

/// The label value parsers: up to four services with arbitrary `com.docker.lb.*` labels (known keys chosen
/// by one byte, unknown ones spelled out) compiled into a route table, and the shared value syntaxes.
///
/// Input: a byte for 1–4 services; per service a byte for 0–7 labels, per label a key byte (an index into
/// `LabelKey.allCases`; one past the end: an unknown key, spelled out to a NUL byte) and a value ending in a
/// NUL byte, then a byte for 0–2 endpoints and one byte each (port or none); the rest is a value for
/// `ValueSyntax`.
///
/// Invariants: compiling is deterministic and independent of the services' order; every route's host is
/// normalised and its context root is an absolute path without dot segments or trailing slash; a duration
/// read back from its own text is the same duration; a size is never negative.
enum FuzzLabels: FuzzTarget {
    static let keys = LabelKey.allCases

    static func run(_ input: inout FuzzInput) {
        var services: [ServiceDescription] = []
        for index in 0..<(1 + input.choice(4)) {
            var labels: [String: String] = [:]
            for _ in 0..<input.choice(8) {
                let pick = input.choice(keys.count + 1)
                let key = pick < keys.count ? keys[pick].label : LabelKey.prefix + input.string()
                labels[key] = input.string()
            }
            let endpoints = (0..<input.choice(3)).map { ServiceDescription.Address(host: "10.0.0.\($0 + 1)", port: input.choice(2) == 0 ? nil : 8080) }
            services.append(ServiceDescription(name: "s\(index)", labels: labels, endpoints: endpoints))
        }
        let builder = RouteTableBuilder()
        let result = builder.build(services)
        let reversed = builder.build(services.reversed())
        fuzzCheck(result.table == reversed.table, "the table depends on the services' order")
        fuzzCheck(result.issues == reversed.issues, "the issues depend on the services' order")
        for route in result.table.routes {
            let host = route.host.description.replacingPrefix("*.", with: "")
            fuzzCheck(HostName.normalize(host) == host, "route host \(route.host) is not normalised")
            let root = Substring(route.contextRoot)
            fuzzCheck(root.hasPrefix("/") && (root == "/" || !root.hasSuffix("/")), "context root \(root.debugDescription)")
            fuzzCheck(RequestPath.removingDotSegments(root) == root, "context root \(root.debugDescription) has dot segments")
        }

        let text = input.remainingString()
        if let duration = ValueSyntax.duration(text) {
            fuzzCheck(duration >= .zero, "negative duration from \(text.debugDescription)")
            fuzzCheck(ValueSyntax.duration(ValueSyntax.text(duration)) == duration, "\(text.debugDescription) does not read back")
        }
        if let size = ValueSyntax.size(text) { fuzzCheck(size >= 0, "negative size from \(text.debugDescription)") }
        _ = ValueSyntax.bool(text)
        for item in ValueSyntax.list(text) {
            fuzzCheck(!item.isEmpty && ValueSyntax.trimmed(item) == item, "list item \(item.debugDescription) not trimmed")
        }
    }
}

extension String {
    fileprivate func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}

#if PIER_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { FuzzLabels.fuzzOne(data, size) }
#else
@main extension FuzzLabels {}
#endif
