import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import RouteModel

/// Active health checking: probes every endpoint of the pools that ask for it (`com.docker.lb.pier.health_path`)
/// with an HTTP/1.1 `GET` and tells every event loop which endpoints are unhealthy; their balancers then leave
/// them out of rotation until a probe passes again.
///
/// One failed probe (an unexpected status, an error, or no answer within the timeout) makes an endpoint
/// unhealthy, one passing probe makes it healthy again; endpoints start healthy. An endpoint probed by several
/// pools is unhealthy while any of its probes fails. The checker notices a new route table generation within
/// a quarter of a second; probes of endpoints that left the table stop.
///
/// Owned by one event loop: every mutable field is touched on it only, which is what makes the unchecked
/// Sendable conformance safe. It does not pick endpoints or proxy anything.
final class HealthChecker: @unchecked Sendable {
    private struct Target: Hashable {
        var endpoint: Endpoint
        var check: ActiveHealthCheck
    }

    private final class Probe {
        var healthy = true
        var next: Scheduled<Void>?
    }

    private let eventLoop: EventLoop
    private let tables: RouteTableBox
    private let loops: [LoopState]
    private let group: EventLoopGroup
    /// Made on the first probe (most configurations never probe) and shut down by `stop()`.
    private var client: HTTPClient?
    private let logger: Logger
    private var generation: UInt64?
    private var probes: [Target: Probe] = [:]
    private var poll: RepeatedTask?
    private var published: Set<Endpoint> = []
    private var stopped = false

    init(eventLoop: EventLoop, group: EventLoopGroup, tables: RouteTableBox, loops: [LoopState], logger: Logger) {
        self.eventLoop = eventLoop
        self.tables = tables
        self.loops = loops
        self.logger = logger
        self.group = group
    }

    private func probeClient() -> HTTPClient {
        if let client { return client }
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        let made = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
        client = made
        return made
    }

    /// Starts following the route table.
    func start() {
        eventLoop.execute { [self] in
            poll = eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(250)) { [self] _ in
                refresh()
            }
        }
    }

    /// Stops probing and closes the probe client.
    func stop() async {
        let client = try? await eventLoop.submit { [self] () -> HTTPClient? in
            stopped = true
            poll?.cancel()
            for probe in probes.values { probe.next?.cancel() }
            probes = [:]
            defer { self.client = nil }
            return self.client
        }.get()
        try? await client?.shutdown()
    }

    private func refresh() {
        guard !stopped else {
            poll?.cancel()
            return
        }
        let table = tables.current
        guard table.generation != generation else { return }
        generation = table.generation
        var wanted: Set<Target> = []
        for pool in table.pools {
            guard let check = pool.activeHealth else { continue }
            for endpoint in pool.endpoints { wanted.insert(Target(endpoint: endpoint, check: check)) }
        }
        for (target, probe) in probes where !wanted.contains(target) {
            probe.next?.cancel()
            probes[target] = nil
        }
        for target in wanted where probes[target] == nil {
            let probe = Probe()
            probes[target] = probe
            send(target, probe)
        }
        publish()
    }

    private func send(_ target: Target, _ probe: Probe) {
        guard !stopped else { return }
        let started = NIODeadline.now()
        let url = "http://\(target.endpoint.description)\(target.check.path)"
        let result: EventLoopFuture<HTTPClient.Response>
        do {
            var headers = HTTPHeaders()
            headers.add(name: "user-agent", value: "pier-health-check")
            let request = try HTTPClient.Request(url: url, method: .GET, headers: headers)
            result = probeClient().execute(request: request, eventLoop: .delegate(on: eventLoop),
                                    deadline: started + TimeAmount(target.check.timeout))
        } catch {
            result = eventLoop.makeFailedFuture(error)
        }
        result.assumeIsolated().whenComplete { [self] outcome in
            // The probe was dropped meanwhile (the endpoint left the table, or the checker stopped).
            guard probes[target] === probe, !stopped else { return }
            let healthy: Bool
            let detail: String
            switch outcome {
            case .success(let response):
                healthy = target.check.expectedStatus.contains(Int(response.status.code))
                detail = "status \(response.status.code)"
            case .failure(let error):
                healthy = false
                detail = "\(error)"
            }
            if healthy != probe.healthy {
                probe.healthy = healthy
                logger.log(level: healthy ? .info : .warning, healthy ? "endpoint healthy again" : "endpoint unhealthy: leaves rotation",
                           metadata: ["endpoint": "\(target.endpoint)", "probe": "GET \(target.check.path)", "result": "\(detail)"])
                publish()
            }
            // Probes of one endpoint never overlap: the next starts an interval after this one started, or now.
            let next = max(started + TimeAmount(target.check.interval), NIODeadline.now())
            probe.next = eventLoop.assumeIsolated().scheduleTask(deadline: next) { [self] in send(target, probe) }
        }
    }

    /// Tells every event loop the endpoints now unhealthy, when that set changed.
    private func publish() {
        var unhealthy: Set<Endpoint> = []
        for (target, probe) in probes where !probe.healthy { unhealthy.insert(target.endpoint) }
        guard unhealthy != published else { return }
        published = unhealthy
        let snapshot = unhealthy
        for loop in loops {
            loop.eventLoop.execute { loop.setUnhealthy(snapshot) }
        }
    }
}
