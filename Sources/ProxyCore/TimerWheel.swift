/// A hashed timer wheel: deadlines filed in slots of `resolution` nanoseconds, `slotCount` of them (100 ms over
/// 64 s by default); a deadline further out than one turn waits in its slot for the turn it is due on. Pure: it
/// never reads a clock (every time is given, in nanoseconds of a monotonic clock) and schedules nothing;
/// `LoopTimers` drives it on an event loop.
///
/// An entry is due once the wheel has been advanced past the end of its slot: never before its deadline, at most
/// one slot after (when advanced on time, which `nextWakeUp` says when). Entries live in one array threaded
/// by doubly linked lists (one per slot, plus one of expired entries) and freed ones are reused, so inserting
/// and removing allocate nothing in the steady state and removing is O(1) whichever list the entry is on.
struct TimerWheel<Owner> {
    /// An entry of the wheel. A handle whose entry has fired or been removed is stale: removing it does nothing.
    struct Handle: Equatable {
        fileprivate let index: Int32
        fileprivate let generation: UInt32
    }

    private struct Node {
        var owner: Owner?
        /// The tick (slot number since the clock's origin, not modulo the wheel) the entry is due at.
        var tick: UInt64 = 0
        var previous: Int32 = -1
        var next: Int32 = -1
        /// The list the entry is on (`expiredList` once due), or -1 when free.
        var list: Int32 = -1
        var generation: UInt32 = 0
    }

    let resolution: UInt64
    let slotCount: Int
    private var nodes: [Node] = []
    /// Free nodes, threaded through `next`.
    private var free: Int32 = -1
    /// The first node of each slot's list, then of the expired list (index `slotCount`).
    private var heads: [Int32]
    /// One bit per slot whose list is not empty: finding the next one to wake up for skips empty slots 64 at a time.
    private var occupied: [UInt64]
    /// The last tick whose slot has been swept.
    private var swept: UInt64
    /// Entries in slots or expired, not yet popped.
    private(set) var count = 0

    private var expiredList: Int { slotCount }

    /// A wheel whose clock reads `now`.
    init(resolution: UInt64 = 100_000_000, slotCount: Int = 640, now: UInt64) {
        precondition(resolution > 0 && slotCount > 0)
        self.resolution = resolution
        self.slotCount = slotCount
        heads = Array(repeating: -1, count: slotCount + 1)
        occupied = Array(repeating: 0, count: (slotCount + 63) / 64)
        swept = now / resolution
    }

    var isEmpty: Bool { count == 0 }

    /// Entries allocated, free ones included: the most ever filed at once, not the number of insertions.
    var capacity: Int { nodes.count }

    /// Files `owner` to be due at `deadline`, or at the next tick when that has passed.
    mutating func insert(_ owner: Owner, deadline: UInt64) -> Handle {
        let tick = max(deadline / resolution + (deadline % resolution == 0 ? 0 : 1), swept + 1)
        let index: Int32
        if free >= 0 {
            index = free
            free = nodes[Int(index)].next
        } else {
            index = Int32(nodes.count)
            nodes.append(Node())
        }
        nodes[Int(index)].owner = owner
        nodes[Int(index)].tick = tick
        link(index, to: Int(tick % UInt64(slotCount)))
        count += 1
        return Handle(index: index, generation: nodes[Int(index)].generation)
    }

    /// Takes the entry out of the wheel, in O(1); nothing when it has already fired or been removed.
    mutating func remove(_ handle: Handle) {
        let i = Int(handle.index)
        guard i < nodes.count, nodes[i].generation == handle.generation, nodes[i].list >= 0 else { return }
        unlink(handle.index)
        release(handle.index)
    }

    /// The time the wheel should next be advanced to (the start of the first tick after the last sweep whose
    /// slot holds an entry), or nil when it holds none; `.min` past ticks when entries have expired unpopped.
    /// It may come before that slot's entries are due (they are a turn or more ahead): advancing then fires
    /// nothing, and asks again.
    func nextWakeUp() -> UInt64? {
        if heads[expiredList] >= 0 { return swept * resolution }
        guard !isEmpty else { return nil }
        let start = Int((swept + 1) % UInt64(slotCount))
        var distance = 0
        while distance < slotCount {
            let slot = (start + distance) % slotCount
            // The slots from `slot` to the end of its word (or of the wheel) at once; bits past the wheel are never set.
            let bits = occupied[slot / 64] >> UInt64(slot % 64)
            if bits != 0 { return (swept + 1 + UInt64(distance + bits.trailingZeroBitCount)) * resolution }
            distance += min(64 - slot % 64, slotCount - slot)
        }
        return nil
    }

    /// The time the entry filed as `handle` wakes the wheel up at the latest: its tick, or its slot's first
    /// tick after the last sweep when it is more than a turn ahead (nil when stale).
    func wakeUp(for handle: Handle) -> UInt64? {
        let node = nodes[Int(handle.index)]
        guard node.generation == handle.generation, node.list >= 0 else { return nil }
        if node.list == expiredList { return swept * resolution }
        let first = swept + 1
        let tick = node.tick - first < UInt64(slotCount) ? node.tick : first + (node.tick - first) % UInt64(slotCount)
        return tick * resolution
    }

    /// Sweeps every slot up to `now`'s tick: the entries due by then move to the expired list, for `popExpired`.
    mutating func advance(to now: UInt64) {
        let current = now / resolution
        guard current > swept else { return }
        if isEmpty {
            swept = current
            return
        }
        // After one turn every slot has been looked at: the rest of a long gap would see the same lists.
        if current - swept > UInt64(slotCount) { swept = current - UInt64(slotCount) }
        while swept < current {
            swept += 1
            let slot = Int(swept % UInt64(slotCount))
            guard occupied[slot / 64] & (1 << UInt64(slot % 64)) != 0 else { continue }
            var i = heads[slot]
            while i >= 0 {
                let next = nodes[Int(i)].next
                if nodes[Int(i)].tick <= current {
                    unlink(i)
                    link(i, to: expiredList)
                }
                i = next
            }
        }
    }

    /// The owner of an entry `advance` found due, which leaves the wheel (its handle goes stale); nil when none
    /// is left. Entries inserted meanwhile are due one tick later at the earliest, so popping until nil ends.
    mutating func popExpired() -> Owner? {
        let i = heads[expiredList]
        guard i >= 0 else { return nil }
        let owner = nodes[Int(i)].owner
        unlink(i)
        release(i)
        return owner
    }

    private mutating func link(_ i: Int32, to list: Int) {
        let head = heads[list]
        nodes[Int(i)].list = Int32(list)
        nodes[Int(i)].previous = -1
        nodes[Int(i)].next = head
        if head >= 0 { nodes[Int(head)].previous = i }
        heads[list] = i
        if list < slotCount { occupied[list / 64] |= 1 << UInt64(list % 64) }
    }

    private mutating func unlink(_ i: Int32) {
        let node = nodes[Int(i)]
        let list = Int(node.list)
        if node.previous >= 0 { nodes[Int(node.previous)].next = node.next } else { heads[list] = node.next }
        if node.next >= 0 { nodes[Int(node.next)].previous = node.previous }
        if list < slotCount, heads[list] < 0 { occupied[list / 64] &= ~(1 << UInt64(list % 64)) }
        nodes[Int(i)].list = -1
    }

    private mutating func release(_ i: Int32) {
        nodes[Int(i)].owner = nil
        nodes[Int(i)].generation &+= 1
        nodes[Int(i)].next = free
        free = i
        count -= 1
    }
}
