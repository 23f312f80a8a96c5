import RouteModel

/// Reloads: the per-route counters follow the route table (design §2, "Layout and reloads").
extension LoopMetrics {
    /// The labels of `route` (`isDefault`: the table's default route).
    static func labels(of route: Route, default isDefault: Bool) -> RouteLabels {
        let service = route.services.count == 1 ? route.services[0] : route.services.joined(separator: ",")
        if isDefault { return RouteLabels(route: "default", service: service) }
        return RouteLabels(route: route.host.description + route.contextRoot, service: service)
    }

    /// The labels of every route index of `table`: its routes, its default route, no route.
    static func labels(of table: RouteTable) -> [RouteLabels] {
        var labels = table.routes.map { Self.labels(of: $0, default: false) }
        labels.append(table.content.defaultRoute.map { Self.labels(of: $0, default: true) } ?? RouteLabels(route: "default", service: "-"))
        labels.append(.noRoute)
        return labels
    }

    /// Lays the counters out for `table`: a route whose labels survive keeps its counts (routes sharing
    /// labels are summed into the first), others are dropped, so memory follows the current table whatever
    /// the number of reloads. Services no pool of `table` names are dropped as well.
    mutating func layOut(for table: RouteTable) {
        var previous: [RouteLabels: ArraySlice<UInt64>] = [:]
        for (index, number) in blocks.enumerated() where number >= 0 {
            let start = Int(number) * Self.blockSize
            let block = cells[start..<start + Self.blockSize]
            if let sum = previous[labels[index]] {
                previous[labels[index]] = ArraySlice(zip(sum, block).map { $0 &+ $1 })
            } else {
                previous[labels[index]] = block
            }
        }
        let next = Self.labels(of: table)
        var nextIndex: [RouteLabels: Int] = [:]
        nextIndex.reserveCapacity(next.count)
        var nextBlocks = [Int32](repeating: -1, count: next.count)
        var nextCells: [UInt64] = []
        for (index, label) in next.enumerated() where nextIndex[label] == nil {
            nextIndex[label] = index
            guard let kept = previous[label] else { continue }
            nextBlocks[index] = Int32(nextCells.count / Self.blockSize)
            nextCells.append(contentsOf: kept)
        }
        generation = table.generation
        labels = next
        indexOfLabels = nextIndex
        blocks = nextBlocks
        cells = nextCells
        let current = Set(table.pools.map(Self.service(of:)))
        services = services.filter { current.contains($0.key) }
    }
}

extension LoopMetrics {
    /// Lays out for `table` if it is newer than the current layout (called once per generation by `LoopState`,
    /// so that services of tables without HTTP traffic are dropped too).
    mutating func follow(_ table: RouteTable) {
        if generation.map({ table.generation > $0 }) ?? true { layOut(for: table) }
    }
}
