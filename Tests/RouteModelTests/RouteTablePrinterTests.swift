import RouteModel
import Testing

@Suite("Route table printer")
struct RouteTablePrinterTests {
    @Test("one aligned line per route, the catch-all line, then the settings")
    func render() {
        var t = TableFixture()
        t.proxy("a.org", "/app", strip: true, to: "a")
        t.proxy("*.b.org", to: "b")
        t.redirect("old.org", to: "http://a.org")
        let expected = """
            route table generation 3: 3 routes
            HOST              PATH  TARGET
            *.b.org           /     b [b:80]
            a.org             /app  a [a:80] (strip /app)
            old.org           /     302 → http://a.org<path>
            (any other host)  /     503
            settings: connect 5.0 seconds, read 600.0 seconds, client body 60.0 seconds, keep-alive 75.0 seconds, max body 33554432 bytes, \
            max header 32768 bytes, info headers shown

            """
        #expect(RouteTablePrinter.render(t.table(generation: 3)) == expected)
    }

    @Test("the default backend replaces the 503 line; an empty pool says so")
    func renderDefault() {
        var t = TableFixture()
        t.fallback(to: "d")
        t.settings.clientMaxBodySize = 0
        t.settings.hideInfoHeaders = true
        var table = t.table(generation: 1)
        table = RouteTable(generation: 1, content: .init(
            routes: [Route(host: .exact("e.org"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 1), services: ["e"])],
            pools: table.pools + [BackendPool(id: 1, services: ["e"], endpoints: [])],
            defaultRoute: table.content.defaultRoute, settings: table.settings))
        let expected = """
            route table generation 1: 1 route
            HOST              PATH  TARGET
            e.org             /     e [no endpoints: 503]
            (any other host)  /     d [d:80]
            settings: connect 5.0 seconds, read 600.0 seconds, client body 60.0 seconds, keep-alive 75.0 seconds, max body unlimited, \
            max header 32768 bytes, info headers hidden

            """
        #expect(RouteTablePrinter.render(table) == expected)
    }
}
