import LabelConfig
import RouteModel
import Testing

/// Labels are parsed once: `ServiceDescription.parsed()` is the parse every provider and the compiler share,
/// and `ParsedServiceCache` keeps a refresh's parses for the next one.
@Suite("Parsed services")
struct ParsedServiceTests {
    typealias S = Fixture

    @Test func parsedIsWhatLabelsParseSays() {
        let labels = S.lb(["hosts": "a.org", "port": "8080", "network": " front ", "backend_mode": "vip"])
        let parsed = S.service("web", labels).parsed()
        let (expected, issues) = Labels.parse(service: "web", labels: labels)
        #expect(parsed.labels == expected && parsed.issues == issues)
        #expect(parsed.labels?.port == 8080 && parsed.labels?.network == "front" && parsed.labels?.backendMode == .vip)
        #expect(parsed.isRouted && parsed.cluster == "")

        let plain = S.service("plain", ["other.label": "x"]).parsed()
        #expect(!plain.isRouted && plain.labels == nil && plain.issues.isEmpty)

        // The cluster is known even when another label does not parse: the compiler leaves such a service to
        // its own Pier, errors included.
        let foreign = S.service("f", S.lb(["service_cluster": " blue ", "port": "80x"])).parsed()
        #expect(foreign.labels == nil && foreign.cluster == "blue")
        let result = RouteTableBuilder().build(parsed: [foreign])
        #expect(result.issues.isEmpty && result.statuses == [ServiceStatus(service: "f", state: .otherCluster("blue"))])
    }

    /// A port the parser rejects leaves the service out with the parser's issue, whichever entry point
    /// compiles it; both entry points give the same table.
    @Test(arguments: ["80x", "70000", "0", "", "8080 8081"])
    func aRejectedPortIsTheSameIssueParsedOrNot(_ port: String) {
        let services = [S.service("bad", S.lb(["hosts": "a.org", "port": port])),
                        S.service("good", S.lb(["hosts": "b.org", "port": "80"]))]
        let parsed = services.map { $0.parsed() }
        let bad = parsed[0]
        #expect(bad.labels == nil)
        #expect(bad.issues.count == 1 && bad.issues[0].key == LabelKey.port.label && bad.issues[0].value == port)

        let once = RouteTableBuilder().build(parsed: parsed)
        let twice = RouteTableBuilder().build(services)
        #expect(once.table.content == twice.table.content && once.issues == twice.issues && once.statuses == twice.statuses)
        #expect(once.issues == bad.issues)
        #expect(once.statuses.contains(ServiceStatus(service: "bad", state: .rejected)))
        #expect(once.table.decide(host: "b.org", target: "/").summary == "forward good /")
    }

    @Test func theCacheReturnsTheSameParseForUnchangedLabels() {
        var cache = ParsedServiceCache()
        let web = S.service("web", S.lb(["hosts": "a.org", "port": "80"]), ["10.0.0.1"])
        let first = cache.parse([web])
        #expect(cache.parses == 1)
        #expect(first == [web.parsed()])

        // New endpoints, same labels: the parse is reused, the description is the new one.
        let moved = S.service("web", web.labels, ["10.0.0.2", "10.0.0.3"])
        let second = cache.parse([moved])
        #expect(cache.parses == 1)
        #expect(second == [moved.parsed()])
        #expect(second[0].description.endpoints.map(\.host) == ["10.0.0.2", "10.0.0.3"])

        // Same labels under another name: its issues name it, so it is parsed for itself.
        let renamed = S.service("api", web.labels)
        #expect(cache.parse([moved, renamed]) == [moved.parsed(), renamed.parsed()])
        #expect(cache.parses == 2)

        // Changed labels are parsed again.
        let relabeled = S.service("web", S.lb(["hosts": "b.org", "port": "80"]))
        #expect(cache.parse([relabeled]) == [relabeled.parsed()])
        #expect(cache.parses == 3)
    }

    @Test func theCacheKeepsOnlyTheLastRefresh() {
        var cache = ParsedServiceCache()
        let stable = S.service("stable", S.lb(["hosts": "s.org", "port": "80"]))
        for round in 1...50 {
            // Every round one service comes, the previous round's goes, and another changes its labels.
            let services = [stable,
                            S.service("come-\(round)", S.lb(["hosts": "c.org", "port": "80"])),
                            S.service("changing", S.lb(["hosts": "r\(round).org", "port": "80"]))]
            #expect(cache.parse(services) == services.map { $0.parsed() })
            #expect(cache.count == 3)
            #expect(cache.parses == 1 + 2 * round)
        }
        _ = cache.parse([])
        #expect(cache.count == 0)
    }
}
