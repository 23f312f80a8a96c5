extension RouteTable {
    /// Decides what to do with a request for `host` and `target` on the `scheme` entrypoint (see
    /// `decide(host:target:scheme:matched:)`, for callers that do not need to know which route matched).
    public func decide(host: String?, target: String, scheme: Scheme = .http) -> RouteDecision {
        var matched = 0
        return decide(host: host, target: target, scheme: scheme, matched: &matched)
    }

    /// The route at `index` as `decide(host:target:scheme:matched:)` reports it: one of `routes`, or the
    /// default route at `routes.count`; nil for any other index.
    public func route(at index: Int) -> Route? {
        index < routes.count ? (index >= 0 ? routes[index] : nil) : index == routes.count ? content.defaultRoute : nil
    }
}
