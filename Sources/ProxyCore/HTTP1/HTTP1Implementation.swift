/// Which HTTP/1.1 codec the data plane's connections use (`pier serve --http1-codec`).
public enum HTTP1Implementation: String, Sendable, CaseIterable {
    /// Pier's own (HTTP1Codec): heads parsed in place under RFC 9112's grammar, one handler per connection
    /// side. The default.
    case pier
    /// NIO's llhttp-based decoders and its encoders, with `HeadWatcher` in front: the previous data plane,
    /// kept while the new one proves itself (and as the benchmark's reference).
    case nio
}
