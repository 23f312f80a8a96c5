import Foundation
import Logging

extension CredentialFiles {
    /// How long before an expiry Pier starts warning: 30 days.
    public static let expiryWarningPeriod: TimeInterval = 30 * 86_400

    /// One line for each of the issuing CA and the leaf that expires within `period` of `now` (or has
    /// expired), naming the file and the date; empty when both are good for longer.
    public func expiryWarnings(now: Date = Date(), period: TimeInterval = CredentialFiles.expiryWarningPeriod) -> [String] {
        [("the cluster CA certificate", caPath, caNotValidAfter), ("the \(role) certificate", certificatePath, notValidAfter)]
            .compactMap { what, path, expiry in
                let left = expiry.timeIntervalSince(now)
                guard left < period else { return nil }
                let when = left <= 0 ? "expired" : "expires in \(Int((left / 86_400).rounded(.up))) days"
                return "\(what) (\(path)) \(when), at \(expiry.ISO8601Format()); see docs/credentials.md, Rotation"
            }
    }

    /// Logs `expiryWarnings(now:)` at warning level.
    public func logExpiryWarnings(_ logger: Logger, now: Date = Date()) {
        for warning in expiryWarnings(now: now) { logger.warning("\(warning)") }
    }
}
