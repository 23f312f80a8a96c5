import LabelConfig
import RouteModel
import Testing

@Suite("Unknown labels")
struct UnknownLabelTests {
    @Test(
        "an unknown com.docker.lb. label rejects the service, with a did-you-mean where one is close",
        arguments: [
            ("com.docker.lb.host", "com.docker.lb.hosts" as String?),
            ("com.docker.lb.contextroot", "com.docker.lb.context_root"),
            ("com.docker.lb.context-root", "com.docker.lb.context_root"),
            ("com.docker.lb.context_root_rewirte", "com.docker.lb.context_root_rewrite"),
            ("com.docker.lb.defaul_backend", "com.docker.lb.default_backend"),
            ("com.docker.lb.HOSTS", "com.docker.lb.hosts"),
            ("com.docker.lb.ports", "com.docker.lb.port"),
            ("com.docker.lb.websocket_endpoint", "com.docker.lb.websocket_endpoints"),
            ("com.docker.lb.sticky_session", "com.docker.lb.sticky_session_cookie"),
            ("com.docker.lb.ssl_crt", "com.docker.lb.ssl_cert"),
            ("com.docker.lb.ssl_certificate", nil),
            ("com.docker.lb.servicecluster", "com.docker.lb.service_cluster"),
            ("com.docker.lb.xyzzy", nil),
            ("com.docker.lb.", nil),
            ("com.docker.lb.balance_algorithm", nil),
        ] as [(String, String?)])
    func unknown(label: String, suggestion: String?) throws {
        let (labels, issues) = Labels.parse(service: "web", labels: [label: "x", LabelKey.hosts.label: "a.org"])
        #expect(labels == nil)
        let issue = try #require(issues.first)
        #expect(issues.count == 1)
        #expect(issue.severity == .error)
        #expect(issue.service == "web")
        #expect(issue.key == label)
        #expect(issue.value == "x")
        if let suggestion {
            #expect(issue.reason == "unknown label; did you mean \(suggestion)?")
        } else {
            #expect(issue.reason == "unknown label")
        }
    }

    @Test("every known key parses under its full label name", arguments: LabelKey.allCases)
    func fullName(key: LabelKey) {
        #expect(key.label == "com.docker.lb." + key.rawValue)
        #expect(LabelKey(rawValue: String(key.label.dropFirst(LabelKey.prefix.count))) == key)
    }
}
