import RouteModel

/// Another endpoint for a failed attempt, or why there is none (the access log and metrics say which).
enum RetryPick {
    case endpoint(Endpoint)
    /// No retry: `.noOtherEndpoint` or `.budgetExhausted`.
    case refused(FailureCause.Retry)

    /// The endpoint, when there is one.
    var endpoint: Endpoint? {
        if case .endpoint(let endpoint) = self { return endpoint }
        return nil
    }
}
