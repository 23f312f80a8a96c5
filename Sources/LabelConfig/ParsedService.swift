import RouteModel

/// A service with its labels parsed: what providers and the table compiler read instead of raw label values,
/// so that one parser decides what a label means (a port the provider would read one way and the compiler
/// another cannot happen). Made only by `ServiceDescription.parsed()`.
public struct ParsedService: Hashable, Sendable {
    /// The service as its provider described it.
    public private(set) var description: ServiceDescription
    /// The typed labels; nil when the service has no `com.docker.lb.*` label or when an error leaves it out.
    public let labels: Labels?
    /// What parsing found (errors and warnings); empty for a service without `com.docker.lb.*` labels.
    public let issues: [RouteIssue]
    /// Whether the service has any `com.docker.lb.*` label.
    public let isRouted: Bool
    /// The service cluster its labels name ("" when none). Read even when other labels do not parse: another
    /// cluster's services are another Pier's business, their errors included.
    public let cluster: String

    fileprivate init(_ description: ServiceDescription) {
        self.description = description
        isRouted = Labels.isRouted(description.labels)
        cluster = Labels.cluster(of: description.labels)
        if isRouted {
            (labels, issues) = Labels.parse(service: description.name, labels: description.labels)
        } else {
            (labels, issues) = (nil, [])
        }
    }

    /// The same parse for `endpoints`: a provider may find endpoints after reading the labels (the port and
    /// network labels say which address of a task counts).
    public func with(endpoints: [ServiceDescription.Address]) -> ParsedService {
        var copy = self
        copy.description.endpoints = endpoints
        return copy
    }

    /// The same parse for `description`, whose name and labels are the parsed ones.
    fileprivate func with(description: ServiceDescription) -> ParsedService {
        var copy = self
        copy.description = description
        return copy
    }
}

extension ServiceDescription {
    /// This service with its labels parsed: the one place a service's labels are parsed.
    public func parsed() -> ParsedService {
        ParsedService(self)
    }
}

/// Parses the services of successive refreshes, reusing the parse of a service whose name and labels did not
/// change since the previous refresh. It keeps only the previous refresh's entries, so it holds at most one
/// entry per service of that refresh, whatever comes and goes. A value owned by one refresh loop: no lock.
public struct ParsedServiceCache: Sendable {
    private struct Key: Hashable {
        var name: String
        var labels: [String: String]
    }

    private var entries: [Key: ParsedService] = [:]
    /// Services parsed (not found in the cache) since creation; lets tests see a reuse.
    public private(set) var parses = 0

    /// Creates an empty cache.
    public init() {}

    /// The number of parses kept for the next refresh.
    public var count: Int { entries.count }

    /// Parses `services` (one refresh), each through `ServiceDescription.parsed()` unless its name and labels
    /// were parsed in the previous refresh; the result keeps each service's own description (endpoints change
    /// without a new parse). Forgets the entries this refresh did not use.
    public mutating func parse(_ services: [ServiceDescription]) -> [ParsedService] {
        var used: [Key: ParsedService] = [:]
        used.reserveCapacity(services.count)
        let result = services.map { service in
            let key = Key(name: service.name, labels: service.labels)
            let parsed: ParsedService
            if let known = used[key] ?? entries[key] {
                parsed = known.with(description: service)
            } else {
                parsed = service.parsed()
                parses += 1
            }
            used[key] = parsed
            return parsed
        }
        entries = used
        return result
    }
}
