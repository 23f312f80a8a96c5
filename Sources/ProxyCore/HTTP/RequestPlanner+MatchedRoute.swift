import NIOHTTP1
import RouteModel

extension RequestPlanner {
    /// `plan` for callers that do not count requests by route (tests).
    static func plan(_ head: HTTPRequestHead, table: RouteTable, requestID: RequestID, clientIP: String?, downstream: Downstream,
                     upgrade: UpgradeRequest, chooseEndpoint: (BackendPool, String?) -> Endpoint?) -> RequestPlan {
        var matched = -1
        return plan(RequestHead(head), table: table, requestID: requestID, clientIP: clientIP, downstream: downstream, upgrade: upgrade,
                    matchedRoute: &matched, chooseEndpoint: chooseEndpoint)
    }
}
