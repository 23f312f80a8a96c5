import RouteModel
import Testing

@Suite("Context root rewrite")
struct RewriteTests {
    static let table: RouteTable = {
        var t = TableFixture()
        t.proxy("h", "/app", strip: true, to: "app")
        t.proxy("h", "/app/admin", strip: true, to: "admin")
        t.proxy("h", "/keep", to: "keep")
        t.proxy("h", "/", strip: true, to: "root")
        return t.table()
    }()

    @Test(
        "the context root is stripped; the bare root gets 301 to itself with a slash",
        arguments: [
            ("/app", "301 /app/"),
            ("/app?y=1", "301 /app/?y=1"),
            ("/app/", "app /"),
            ("/app/?y=1", "app /?y=1"),
            ("/app/x", "app /x"),
            ("/app/x?y=1", "app /x?y=1"),
            ("/app/x/", "app /x/"),
            ("/app/a.css", "app /a.css"),
            ("/app//x", "app //x"),
            ("//app/x", "app /x"),
            ("//app", "301 /app/"),
            ("/app/admin", "301 /app/admin/"),
            ("/app/admin/users", "admin /users"),
            ("/app/administrator", "app /administrator"),
            ("/app/../app/x", "app /x"),
            ("/app/x/../../keep/y", "keep /keep/y"),
            // without rewrite the original path goes upstream
            ("/keep", "keep /keep"),
            ("/keep/y?z", "keep /keep/y?z"),
            // stripping `/` is a no-op
            ("/apple", "root /apple"),
            ("/", "root /"),
        ] as [(String, String)])
    func rewrite(target: String, expected: String) {
        #expect(Self.table.decide(host: "h", target: target).summary == expected)
    }

    @Test("a forwarded decision carries the route that matched")
    func forwardedRoute() throws {
        guard case .forward(let route, let pool, let target) = Self.table.decide(host: "h", target: "/app/x") else {
            Issue.record("expected a forward")
            return
        }
        #expect(route.contextRoot == "/app")
        #expect(route.stripContextRoot)
        #expect(pool.endpoints == [Endpoint(host: "app", port: 80)])
        #expect(target == "/x")
    }
}

@Suite("Redirects")
struct RedirectTests {
    static let table: RouteTable = {
        var t = TableFixture()
        t.redirect("old.local", to: "http://new.local")
        t.redirect("*.old.local", to: "https://new.local/base")
        t.proxy("new.local", to: "app")
        return t.table()
    }()

    @Test(
        "302 to the target followed by the original path and query",
        arguments: [
            ("old.local", "/", "302 http://new.local/"),
            ("OLD.local:8080", "/", "302 http://new.local/"),
            ("old.local", "/p?q=1", "302 http://new.local/p?q=1"),
            ("old.local", "/a/b/", "302 http://new.local/a/b/"),
            ("old.local", "/a/../b", "302 http://new.local/b"),
            ("old.local", "", "302 http://new.local"),
            ("www.old.local", "/x?y", "302 https://new.local/base/x?y"),
            ("new.local", "/p?q=1", "app /p?q=1"),
        ] as [(String, String, String)])
    func redirect(host: String, target: String, expected: String) {
        #expect(Self.table.decide(host: host, target: target).summary == expected)
    }
}
