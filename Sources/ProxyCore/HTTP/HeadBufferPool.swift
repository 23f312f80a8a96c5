import NIOCore

/// Buffers for the heads Pier writes as bytes (`ByteHeadSink`), recycled per event loop: a head's buffer goes
/// back once its exchange no longer needs it, and is reused when the socket has let go of it too.
///
/// Safe by construction: reuse goes through `ByteBuffer.clear(minimumCapacity:)`, which allocates fresh
/// storage when anyone still holds the old one (a write not yet done, a retry's copy), so a head in flight is
/// never overwritten. Bounded: at most `maxBuffers` kept, none larger than `maxKeptCapacity`. Owned by one
/// event loop (`LoopState`).
struct HeadBufferPool {
    private var buffers: [ByteBuffer] = []
    static let maxBuffers = 64
    static let maxKeptCapacity = 8 * 1024

    /// A buffer to write a head into, when one is kept.
    mutating func take() -> ByteBuffer? {
        buffers.popLast()
    }

    /// Keeps `buffer` for a later head (dropped when the pool is full or the buffer grew large).
    mutating func giveBack(_ buffer: ByteBuffer) {
        guard buffers.count < Self.maxBuffers, buffer.capacity <= Self.maxKeptCapacity else { return }
        buffers.append(buffer)
    }

    /// Keeps the buffer of `head` if it was written as bytes.
    mutating func giveBack(_ head: OutgoingRequestHead?) {
        if case .encoded(let encoded)? = head { giveBack(encoded.bytes) }
    }

    mutating func giveBack(_ head: OutgoingResponseHead) {
        if case .encoded(let encoded) = head { giveBack(encoded.bytes) }
    }

    var count: Int { buffers.count }
}
