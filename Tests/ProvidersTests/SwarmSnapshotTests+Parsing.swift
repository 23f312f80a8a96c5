import DockerEngine
import LabelConfig
import RouteModel
import Testing

@testable import Providers

/// The snapshot reads port, network and backend mode from the parsed labels the table compiler reads too.
extension SwarmSnapshotTests {
    /// Sets `label` (without the prefix) of the recorded service `name`.
    static func relabeled(_ state: SwarmState, _ name: String, _ label: String, _ value: String) throws -> SwarmState {
        var state = state
        let i = try #require(state.services.firstIndex { $0.Spec.Name == name })
        state.services[i].Spec.Labels?[LabelKey.prefix + label] = value
        return state
    }

    /// Before labels were parsed once, the snapshot read these raw, went on to its network checks and left the
    /// service out for a network issue that hid the label error. Now the parser wins: the label error is the
    /// reason, the same in the snapshot and in the table, and no network issue is made up.
    @Test(arguments: [
        ("rec-two-nets", "port", "80x"), ("rec-two-nets", "port", "70000"), ("rec-wrong-net", "port", "80x"),
        ("rec-two-nets", "backend_mode", "VIP"), ("rec-wrong-net", "hots", "x.rec.test"),
    ])
    func aLabelTheParserRejectsIsTheReasonInSnapshotAndTable(_ name: String, _ label: String, _ value: String) throws {
        let (described, result) = describe(try Self.relabeled(try Self.state(), name, label, value))
        let parsed = try #require(described.services.first { $0.description.name == name })
        #expect(parsed.labels == nil)
        let labelError = try #require(parsed.issues.first { $0.severity == .error })
        #expect(labelError.key == LabelKey.prefix + label && labelError.value == value)
        #expect(described.issues.allSatisfy { $0.service != name }, "no network issue for it")
        #expect(described.rejected[name] == nil)
        #expect(result.issues.contains(labelError))
        #expect(result.statuses.contains(ServiceStatus(service: name, state: .rejected)))
        #expect(!endpoints(result, host: "task.rec.test").isEmpty, "other services keep routing")
    }

    /// Whitespace around a value is the parser's business too: ` 8080 ` is port 8080 in both.
    @Test func aPortWithSpacesIsThePortTheParserReads() throws {
        let (described, result) = describe(try Self.relabeled(try Self.state(), "rec-task", "port", " 8080 "))
        let parsed = try #require(described.services.first { $0.description.name == "rec-task" })
        #expect(parsed.labels?.port == 8080)
        let task = endpoints(result, host: "task.rec.test")
        #expect(task.count == 1 && task.allSatisfy { $0.hasSuffix(":8080") })
    }

    /// Successive refreshes through one cache parse only what changed, and the cache holds no more than the
    /// last refresh's services, whatever comes and goes.
    @Test func refreshesParseOnlyChangedServicesAndTheCacheStaysBounded() throws {
        let state = try Self.state()
        var cache = ParsedServiceCache()
        let first = SwarmSnapshot.describe(state, cache: &cache)
        #expect(cache.parses == state.services.count)
        let again = SwarmSnapshot.describe(state, cache: &cache)
        #expect(cache.parses == state.services.count, "nothing changed, nothing parsed")
        #expect(again.services == first.services)

        var changing = state
        let template = try #require(state.services.first { $0.Spec.Name == "rec-task" })
        for round in 1...20 {
            // One service relabeled and a new one each round; the one added the round before is gone.
            changing = try Self.relabeled(state, "rec-task", "hosts", "r\(round).rec.test")
            var added = template
            added.ID = "added\(round)"
            added.Spec.Name = "added-\(round)"
            changing.services.append(added)
            let described = SwarmSnapshot.describe(changing, cache: &cache)
            #expect(cache.count == changing.services.count)
            #expect(cache.parses == state.services.count + 2 * round)
            let parsed = try #require(described.services.first { $0.description.name == "rec-task" })
            #expect(parsed.labels?.hosts == [HostPattern("r\(round).rec.test")])
        }
    }
}
