import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// What a controller knows of one connected proxy, for `pier status` and its log.
public struct SubscriberStatus: Sendable, Equatable, Codable {
    public var name: String
    public var node: String
    public var pier: String
    public var address: String
    /// The version last sent (a snapshot, or `unchanged`).
    public var sent: String?
    /// The version last acknowledged.
    public var acked: String?
    /// Why the last version was refused, if it was.
    public var nack: String?
    /// Seconds since 1970 of the last message received.
    public var lastSeen: Double
    public var connectedAt: Double
}

/// The controller's connected proxies and the latest snapshot, shared by every subscriber's handler (each
/// confined to its own event loop). Locked only to copy a value in or out.
final class SubscriberRegistry: Sendable {
    /// The latest snapshot, framed once for every subscriber.
    struct Latest: Sendable {
        var version: String
        var frame: ByteBuffer
    }

    /// A handler as the registry reaches it: on its own loop.
    struct Member: Sendable {
        var eventLoop: any EventLoop
        var offer: @Sendable () -> Void
        /// Says goodbye with the reason, or, when nil, just closes.
        var goodbye: @Sendable (String?) -> Void
        var status: SubscriberStatus
    }

    private struct State {
        var latest: Latest?
        var members: [ObjectIdentifier: Member] = [:]
        var draining = false
    }

    private let state = NIOLockedValueBox(State())
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    var latest: Latest? { state.withLockedValue { $0.latest } }
    var draining: Bool { state.withLockedValue { $0.draining } }
    var statuses: [SubscriberStatus] { state.withLockedValue { $0.members.values.map(\.status) }.sorted { $0.name < $1.name } }

    /// Makes `latest` current and tells every member to send it.
    func offer(_ latest: Latest) {
        let members = state.withLockedValue { state in
            state.latest = latest
            return Array(state.members.values)
        }
        for member in members { member.eventLoop.execute { member.offer() } }
    }

    /// Adds a member; false when the registry is full or draining.
    func join(_ id: ObjectIdentifier, _ member: Member) -> Bool {
        state.withLockedValue { state in
            guard !state.draining, state.members.count < limit else { return false }
            state.members[id] = member
            return true
        }
    }

    func leave(_ id: ObjectIdentifier) {
        state.withLockedValue { _ = $0.members.removeValue(forKey: id) }
    }

    func update(_ id: ObjectIdentifier, _ change: (inout SubscriberStatus) -> Void) {
        state.withLockedValue { state in
            guard state.members[id] != nil else { return }
            change(&state.members[id]!.status)
        }
    }

    /// Tells every member to say goodbye (or, with no reason, to close at once); no one joins after this.
    func drain(reason: String?) {
        let members = state.withLockedValue { state in
            state.draining = true
            return Array(state.members.values)
        }
        for member in members { member.eventLoop.execute { member.goodbye(reason) } }
    }
}

func secondsNow() -> Double { Date().timeIntervalSince1970 }
