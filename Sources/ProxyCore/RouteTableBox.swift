import NIOConcurrencyHelpers
import RouteModel

/// The one place the current route table lives: written by whoever publishes tables, read once per request
/// by the data plane. The lock is held only to copy a reference-counted value in or out.
public final class RouteTableBox: Sendable {
    private let box: NIOLockedValueBox<RouteTable>

    /// Creates the box holding `initial`.
    public init(_ initial: RouteTable = .empty()) {
        box = NIOLockedValueBox(initial)
    }

    /// The current snapshot.
    public var current: RouteTable {
        box.withLockedValue { $0 }
    }

    /// Makes `table` current. In-flight requests keep the snapshot they started with.
    public func publish(_ table: RouteTable) {
        box.withLockedValue { $0 = table }
    }
}
