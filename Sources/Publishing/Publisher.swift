import CoreMetrics
import Foundation
import LabelConfig
import Logging
import NIOConcurrencyHelpers
import RouteModel

/// What a route source yields: the inputs it read and what they compile to.
public struct Build: Sendable {
    /// What the table was compiled from (what a controller ships; what a proxy received).
    public var inputs: BuildInputs
    /// The compiled table (its generation is the publisher's business), issues and statuses.
    public var result: RouteTableBuilder.Result
    /// The content-addressed version of `inputs`, when the source knows it (a controller's snapshot).
    public var version: String?
    /// How long compiling took, when the source measured it (`/metrics`, `/api/status`).
    public var compileDuration: Duration?

    /// Creates a build.
    public init(inputs: BuildInputs, result: RouteTableBuilder.Result, version: String? = nil, compileDuration: Duration? = nil) {
        self.inputs = inputs
        self.result = result
        self.version = version
        self.compileDuration = compileDuration
    }

    /// Compiles `inputs`.
    public init(inputs: BuildInputs, version: String? = nil) {
        var result: RouteTableBuilder.Result?
        let duration = ContinuousClock().measure { result = RouteTableBuilder.build(inputs) }
        self.init(inputs: inputs, result: result!, version: version, compileDuration: duration)
    }

    /// Runs `compile` (a builder call returning inputs and result) and records how long it took.
    public static func timed(version: String? = nil, _ compile: () -> (BuildInputs, RouteTableBuilder.Result)) -> Build {
        var built: (BuildInputs, RouteTableBuilder.Result)?
        let duration = ContinuousClock().measure { built = compile() }
        return Build(inputs: built!.0, result: built!.1, version: version, compileDuration: duration)
    }
}

/// One table made live, with everything known about it.
public struct Publication: Sendable {
    /// The publisher's number for it: 1 for the first table, one more per change.
    public var generation: UInt64
    /// The table, carrying `generation`.
    public var table: RouteTable
    /// What it was compiled from.
    public var inputs: BuildInputs
    /// Its content-addressed version, when the source gave one.
    public var version: String?
    /// Every service's status.
    public var statuses: [ServiceStatus]
    /// Every issue found.
    public var issues: [RouteIssue]
    /// When the table was published, in seconds since 1970.
    public var publishedAt: Double = 0
    /// How long its compile took, when measured.
    public var compileDuration: Duration?
}

/// The one publish path: every source (configuration file, Docker Engine, controller) hands its builds here,
/// and the publisher alone decides what is new, numbers generations, logs the change, the issue deltas and
/// the changed statuses, keeps the latest statuses and issues, and tells its subscribers (the data plane's
/// table box, a controller's proxies, the status endpoint) in generation order.
public final class Publisher: Sendable {
    /// Called with each publication, in generation order, on the publishing source's task: keep it short.
    public typealias Subscriber = @Sendable (Publication) -> Void

    private struct State {
        var latest: Publication?
        /// The last build's issues, published or not: issues are logged when they change.
        var issues: [RouteIssue] = []
        /// The latest build's version, published or not (an equal table under a new version).
        var version: String?
        var subscribers: [Subscriber] = []
    }

    private let state = NIOLockedValueBox(State())
    private let logger: Logger
    private let metrics: PublisherMetrics?

    /// Creates a publisher with nothing published yet; with `metrics`, it records generations, reloads,
    /// compile times, issues and service states through that factory (Prometheus in `pier`).
    public init(logger: Logger, metrics: (any MetricsFactory)? = nil) {
        self.logger = logger
        self.metrics = metrics.map(PublisherMetrics.init(factory:))
    }

    /// The latest publication, if any table was published.
    public var latest: Publication? { state.withLockedValue { $0.latest } }

    /// The version of the latest build accepted, which may be newer than the latest publication's when the
    /// table came out the same.
    public var latestVersion: String? { state.withLockedValue { $0.version } }

    /// Adds `subscriber`; it gets the latest publication at once, if there is one, then every new one.
    public func subscribe(_ subscriber: @escaping Subscriber) {
        state.withLockedValue { state in
            state.subscribers.append(subscriber)
            if let latest = state.latest { subscriber(latest) }
        }
    }

    /// Takes a source's build: publishes it when its table differs from the live one (always the first).
    /// Returns the publication, or nil when nothing changed.
    @discardableResult
    public func publish(_ build: Build) -> Publication? {
        // Under the lock for the whole step: two sources (never the case today, but a proxy's persisted table
        // and its controller could race) still publish in generation order, and subscribers see that order.
        state.withLockedValue { state in
            let issues = build.result.issues
            if issues != state.issues {
                for issue in issues where !state.issues.contains(issue) { logger.report(issue) }
                for issue in state.issues where !issues.contains(issue) { logger.info("resolved: \(issue.detail)") }
                state.issues = issues
            }
            state.version = build.version
            metrics?.record(build)
            let previous = state.latest
            if let previous, previous.table.content == build.result.table.content {
                logger.debug("routes unchanged", metadata: build.version.map { ["version": "\($0)"] } ?? [:])
                // The inputs may differ in what the table does not show (a status, an issue's wording).
                state.latest?.inputs = build.inputs
                state.latest?.version = build.version
                state.latest?.statuses = build.result.statuses
                state.latest?.issues = issues
                return nil
            }
            let generation = (previous?.generation ?? 0) + 1
            let table = build.result.table.with(generation: generation)
            var metadata: Logger.Metadata = ["generation": "\(generation)"]
            if let version = build.version { metadata["version"] = "\(version)" }
            if let previous {
                metadata["change"] = "\(RouteTableDiff(from: previous.table, to: table))"
                logger.info("routes updated", metadata: metadata)
            } else {
                metadata["routes"] = "\(table.routes.count)"
                logger.info("routes loaded", metadata: metadata)
            }
            let before = Set(previous?.statuses ?? [])
            for status in build.result.statuses where !before.contains(status) && status.state != .ignored {
                logger.info("\(status)")
            }
            let publication = Publication(generation: generation, table: table, inputs: build.inputs,
                                          version: build.version, statuses: build.result.statuses, issues: issues,
                                          publishedAt: Date().timeIntervalSince1970, compileDuration: build.compileDuration)
            metrics?.published(publication)
            state.latest = publication
            for subscriber in state.subscribers { subscriber(publication) }
            return publication
        }
    }
}
