import NIOCore

/// Something on an event loop with one deadline at a time in the loop's `LoopTimers`.
protocol LoopTimerClient: AnyObject {
    /// The deadline filed with `LoopTimers.schedule` has come (its handle is stale now).
    func loopTimerFired()
}

/// The deadlines of an event loop's connections in one `TimerWheel` (100 ms slots), woken up by one NIO
/// scheduled task at the earliest slot that holds one: filing or moving a deadline allocates nothing and
/// touches NIO's scheduled-task queue only when it comes before every other, and an empty wheel schedules
/// nothing. A deadline fires at most one slot (100 ms) after it is due, never before.
///
/// Part of `LoopState`: owned by one event loop, every method is called on it only.
final class LoopTimers {
    typealias Handle = TimerWheel<any LoopTimerClient>.Handle

    private let eventLoop: EventLoop
    private var wheel: TimerWheel<any LoopTimerClient>
    private var wakeUp: Scheduled<Void>?
    /// When `wakeUp` runs (`.max`: not scheduled).
    private var wakeUpTime = UInt64.max
    /// Counts wake-ups scheduled: tells the current one from one cancelled too late.
    private var wakeUps: UInt64 = 0
    /// Clients are being told their deadline came: they file new ones, and the wheel is woken up after.
    private var firing = false

    init(eventLoop: EventLoop, resolution: TimeAmount = .milliseconds(100)) {
        self.eventLoop = eventLoop
        wheel = TimerWheel(resolution: UInt64(resolution.nanoseconds), now: NIODeadline.now().uptimeNanoseconds)
    }

    /// Entries in the wheel.
    var count: Int { wheel.count }
    /// Whether a wake-up is scheduled on the loop (never while the wheel is empty).
    var isScheduled: Bool { wakeUp != nil }

    /// Calls `client.loopTimerFired()` once `deadline` has come.
    func schedule(_ client: any LoopTimerClient, at deadline: NIODeadline) -> Handle {
        // An empty wheel's clock stands where it last woke up: brought to now, a deadline a turn ahead is not
        // taken for one of the slot it shares with the past.
        if wheel.isEmpty { wheel.advance(to: NIODeadline.now().uptimeNanoseconds) }
        let handle = wheel.insert(client, deadline: deadline.uptimeNanoseconds)
        if !firing, let time = wheel.wakeUp(for: handle), time < wakeUpTime { wake(at: time) }
        return handle
    }

    /// Takes a deadline back; nothing when it has fired already.
    func cancel(_ handle: Handle) {
        wheel.remove(handle)
        if wheel.isEmpty, !firing {
            wakeUp?.cancel()
            wakeUp = nil
            wakeUpTime = .max
        }
    }

    private func wake(at time: UInt64) {
        wakeUp?.cancel()
        wakeUpTime = time
        wakeUps &+= 1
        let id = wakeUps
        wakeUp = eventLoop.assumeIsolated().scheduleTask(deadline: .uptimeNanoseconds(time)) { [self] in
            // A task cancelled in the loop turn it was due in still runs: only the latest one may fire.
            guard id == wakeUps else { return }
            wakeUp = nil
            wakeUpTime = .max
            fire()
        }
    }

    private func fire() {
        firing = true
        wheel.advance(to: NIODeadline.now().uptimeNanoseconds)
        while let client = wheel.popExpired() { client.loopTimerFired() }
        firing = false
        if let time = wheel.nextWakeUp() { wake(at: time) }
    }
}
