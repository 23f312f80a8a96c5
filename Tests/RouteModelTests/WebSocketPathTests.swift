import RouteModel
import Testing

@Suite("WebSocket paths")
struct WebSocketPathTests {
    static func route(_ paths: [String]) -> Route {
        Route(host: .exact("chat.test"), contextRoot: "/", stripContextRoot: false, action: .proxy(pool: 0), services: ["chat"],
              webSocketPaths: paths)
    }

    @Test("a path is accepted when it is a WebSocket path or below one, segment by segment", arguments: [
        (["/ws"], "/ws", true), (["/ws"], "/ws/room", true), (["/ws"], "/wsx", false), (["/ws"], "/", false),
        (["/ws"], "/other/ws", false), (["/ws", "/chat"], "/chat/1/2", true), (["/"], "/anything", true),
        (["/a/b"], "/a", false), (["/a/b"], "/a/b/", true), ([], "/ws", false),
    ] as [([String], String, Bool)])
    func accepts(paths: [String], path: String, expected: Bool) {
        #expect(Self.route(paths).acceptsWebSocket(path: Substring(path)) == expected)
    }
}
