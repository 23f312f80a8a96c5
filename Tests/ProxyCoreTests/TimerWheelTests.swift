import NIOCore
import NIOPosix
import Testing

@testable import ProxyCore

/// The timer wheel with a fake clock: deadlines fire in order, never before they are due and at most one slot
/// after, whether they are a few slots or several turns ahead; cancelled ones never; an empty wheel asks for
/// no wake-up.
struct TimerWheelTests {
    static let ms: UInt64 = 1_000_000
    static let slot = 100 * ms
    /// An uptime that is not on a slot boundary.
    static let origin: UInt64 = 12_345_678_901_234

    /// Drives a wheel the way `LoopTimers` does: wakes up when it asks to, and notes when each entry fired.
    struct Driver {
        var wheel = TimerWheel<Int>(now: origin)
        var now = origin
        var fired: [(id: Int, at: UInt64)] = []
        /// Called for each entry that fires; may file new ones.
        var onFire: (inout TimerWheel<Int>, Int, UInt64) -> Void = { _, _, _ in }

        mutating func run(until end: UInt64) {
            while let wakeUp = wheel.nextWakeUp(), max(wakeUp, now) <= end {
                now = max(wakeUp, now)
                wheel.advance(to: now)
                while let id = wheel.popExpired() {
                    fired.append((id, now))
                    onFire(&wheel, id, now)
                }
            }
            now = end
        }
    }

    @Test func anEmptyWheelAsksForNoWakeUp() {
        var wheel = TimerWheel<Int>(now: Self.origin)
        #expect(wheel.nextWakeUp() == nil)
        let handle = wheel.insert(1, deadline: Self.origin + 5 * Self.slot)
        #expect(wheel.nextWakeUp() != nil)
        wheel.remove(handle)
        #expect(wheel.isEmpty && wheel.nextWakeUp() == nil)
        wheel.advance(to: Self.origin + 3_600_000 * Self.ms)
        #expect(wheel.popExpired() == nil && wheel.nextWakeUp() == nil)
    }

    @Test("fires in deadline order, never early, at most one slot late",
          arguments: [0 as UInt64, 1, 99, 100, 101, 250, 999, 63_900, 64_000, 64_100, 200_000])
    func firesWithinOneSlot(afterMilliseconds delay: UInt64) {
        var driver = Driver()
        let deadline = Self.origin + delay * Self.ms
        _ = driver.wheel.insert(7, deadline: deadline)
        driver.run(until: deadline - 1)
        #expect(driver.fired.isEmpty, "fired early")
        driver.run(until: deadline + Self.slot)
        #expect(driver.fired.map(\.id) == [7])
        if let at = driver.fired.first?.at {
            #expect(at >= deadline && at < deadline + Self.slot, "fired \(Double(at) - Double(deadline)) ns after its deadline")
        }
        #expect(driver.wheel.isEmpty && driver.wheel.nextWakeUp() == nil)
    }

    @Test func entriesFireInDeadlineOrder() {
        var driver = Driver()
        let delays: [UInt64] = [5_000, 120, 70_000, 300, 130_000, 64_050, 1, 9_999]
        for (id, delay) in delays.enumerated() { _ = driver.wheel.insert(id, deadline: Self.origin + delay * Self.ms) }
        driver.run(until: Self.origin + 200_000 * Self.ms)
        #expect(driver.fired.map(\.id) == delays.indices.sorted { delays[$0] < delays[$1] })
    }

    @Test func cancelledEntriesNeverFire() {
        var driver = Driver()
        let kept = driver.wheel.insert(1, deadline: Self.origin + 300 * Self.ms)
        let cancelled = driver.wheel.insert(2, deadline: Self.origin + 300 * Self.ms)
        let far = driver.wheel.insert(3, deadline: Self.origin + 100_000 * Self.ms)
        driver.wheel.remove(cancelled)
        driver.wheel.remove(far)
        driver.run(until: Self.origin + 200_000 * Self.ms)
        #expect(driver.fired.map(\.id) == [1])
        // Stale handles (fired, or removed already) do nothing, even once their storage holds another entry.
        let reuse = driver.wheel.insert(4, deadline: driver.now + Self.slot)
        driver.wheel.remove(kept)
        driver.wheel.remove(cancelled)
        #expect(driver.wheel.count == 1)
        driver.run(until: driver.now + 2 * Self.slot)
        #expect(driver.fired.map(\.id) == [1, 4])
        driver.wheel.remove(reuse)
        #expect(driver.wheel.isEmpty)
    }

    @Test("an entry cancelled while others expire with it (on the expired list) does not fire")
    func cancelWhileExpired() {
        var wheel = TimerWheel<Int>(now: Self.origin)
        let first = wheel.insert(1, deadline: Self.origin + Self.slot)
        let second = wheel.insert(2, deadline: Self.origin + Self.slot)
        wheel.advance(to: Self.origin + 2 * Self.slot)
        let popped = wheel.popExpired()
        wheel.remove(popped == 1 ? second : first)
        #expect(wheel.popExpired() == nil && wheel.isEmpty)
        #expect(wheel.nextWakeUp() == nil)
    }

    @Test("re-filing earlier (cancel, insert) fires at the earlier deadline only")
    func refileEarlier() {
        var driver = Driver()
        let late = driver.wheel.insert(1, deadline: Self.origin + 60_000 * Self.ms)
        driver.run(until: Self.origin + 1_000 * Self.ms)
        driver.wheel.remove(late)
        let earlier = Self.origin + 1_500 * Self.ms
        _ = driver.wheel.insert(1, deadline: earlier)
        driver.run(until: Self.origin + 120_000 * Self.ms)
        #expect(driver.fired.count == 1)
        #expect(driver.fired.first.map { $0.at >= earlier && $0.at < earlier + Self.slot } == true)
    }

    @Test("a deadline several turns ahead waits for its turn: wake-ups before it fire nothing")
    func deadlinesBeyondOneTurn() {
        var driver = Driver()
        let deadline = Self.origin + 200_000 * Self.ms
        _ = driver.wheel.insert(1, deadline: deadline)
        // A near one in the same slot of the wheel, two turns earlier.
        _ = driver.wheel.insert(2, deadline: deadline - 128_000 * Self.ms)
        driver.run(until: deadline - 1)
        #expect(driver.fired.map(\.id) == [2])
        driver.run(until: deadline + Self.slot)
        #expect(driver.fired.map(\.id) == [2, 1])
        #expect(driver.fired.last.map { $0.at >= deadline && $0.at < deadline + Self.slot } == true)
    }

    @Test("a deadline already past fires on the next tick, and one filed while firing does not fire in the same sweep")
    func pastDeadlines() {
        var driver = Driver()
        driver.run(until: Self.origin + 10_000 * Self.ms)
        _ = driver.wheel.insert(1, deadline: Self.origin)
        var refiled = 0
        driver.onFire = { wheel, id, now in
            // A client whose check re-arms at a deadline that has passed already (a zero timeout).
            if refiled < 3 {
                refiled += 1
                _ = wheel.insert(id, deadline: now)
            }
        }
        driver.run(until: driver.now + 10 * Self.slot)
        let times = driver.fired.map(\.at)
        #expect(times.count == 4)
        #expect(zip(times, times.dropFirst()).allSatisfy { $1 > $0 && $1 - $0 <= Self.slot }, "\(times)")
    }

    @Test func aLongSleepFiresEverythingDue() {
        var wheel = TimerWheel<Int>(now: Self.origin)
        for id in 0..<100 { _ = wheel.insert(id, deadline: Self.origin + UInt64(id) * 3_000 * Self.ms) }
        _ = wheel.insert(1_000, deadline: Self.origin + 7_200_000 * Self.ms)
        // The loop was blocked for an hour: one advance, everything due by then, nothing else.
        wheel.advance(to: Self.origin + 3_600_000 * Self.ms)
        var fired: [Int] = []
        while let id = wheel.popExpired() { fired.append(id) }
        #expect(fired.sorted() == Array(0..<100))
        #expect(wheel.count == 1)
    }

    @Test("many entries, half cancelled: each of the rest fires once, in time; storage is reused, not grown")
    func manyEntries() {
        var driver = Driver()
        var generator = SystemRandomNumberGenerator()
        var deadlines: [Int: UInt64] = [:]
        var handles: [TimerWheel<Int>.Handle] = []
        for id in 0..<10_000 {
            let deadline = Self.origin + UInt64.random(in: 0...150_000, using: &generator) * Self.ms
            deadlines[id] = deadline
            handles.append(driver.wheel.insert(id, deadline: deadline))
        }
        for id in stride(from: 0, to: 10_000, by: 2) {
            driver.wheel.remove(handles[id])
            deadlines[id] = nil
        }
        driver.run(until: Self.origin + 151_000 * Self.ms)
        #expect(driver.fired.count == 5_000)
        #expect(Set(driver.fired.map(\.id)).count == 5_000)
        let late = driver.fired.filter { entry in
            guard let deadline = deadlines[entry.id] else { return true }
            return entry.at < deadline || entry.at >= deadline + Self.slot
        }
        #expect(late.isEmpty, "\(late.count) fired out of their slot")
        #expect(driver.wheel.isEmpty && driver.wheel.nextWakeUp() == nil)
        // Storage follows the most entries filed at once, not the number of insertions.
        let capacity = driver.wheel.capacity
        for round in 0..<20 {
            let batch = (0..<500).map { driver.wheel.insert($0, deadline: driver.now + UInt64(round + $0) * Self.ms) }
            batch.forEach { driver.wheel.remove($0) }
        }
        #expect(driver.wheel.capacity == capacity)
        var single = TimerWheel<Int>(now: Self.origin)
        for round in 0..<1_000 { single.remove(single.insert(round, deadline: Self.origin + UInt64(round) * Self.ms)) }
        #expect(single.capacity == 1)
    }

    @Test("LoopTimers on a real event loop: a deadline fires once, not before, within a slot; a cancelled one never; an empty wheel leaves nothing scheduled")
    func loopTimersOnAnEventLoop() async throws {
        // Touched on the loop only (every access is inside `submit`).
        final class Client: LoopTimerClient, @unchecked Sendable {
            var fired: [NIODeadline] = []
            func loopTimerFired() { fired.append(.now()) }
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let state = LoopState(eventLoop: loop)
        let due = Client(), cancelled = Client()
        let deadline = try await loop.submit {
            let deadline = NIODeadline.now() + .milliseconds(150)
            _ = state.timers.schedule(due, at: deadline)
            state.timers.cancel(state.timers.schedule(cancelled, at: deadline - .milliseconds(50)))
            return deadline
        }.get()
        try await Task.sleep(for: .milliseconds(500))
        let (fired, notFired, count, scheduled) = try await loop.submit {
            (due.fired, cancelled.fired, state.timers.count, state.timers.isScheduled)
        }.get()
        #expect(notFired.isEmpty)
        #expect(fired.count == 1)
        if let at = fired.first {
            #expect(at >= deadline && at < deadline + .milliseconds(150), "fired \(at - deadline) after its deadline")
        }
        #expect(count == 0 && !scheduled)
        // Filed and taken back: nothing stays scheduled on the loop.
        let stillScheduled = try await loop.submit {
            state.timers.cancel(state.timers.schedule(cancelled, at: .now() + .seconds(30)))
            return state.timers.isScheduled
        }.get()
        #expect(!stillScheduled)
        try await group.shutdownGracefully()
    }
}
