import Logging
import RouteModel

extension Logger {
    /// Logs `issue` at its own severity. The line carries the issue without its `error:`/`warning:` prefix:
    /// the log level already says it.
    public func report(_ issue: RouteIssue) {
        switch issue.severity {
        case .error: error("\(issue.detail)")
        case .warning: warning("\(issue.detail)")
        }
    }
}
