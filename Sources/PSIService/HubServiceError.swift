public import Foundation

/// Errors of the hub service and its member client. None carries an item, an element or a secret.
public enum HubServiceError: Error, Sendable, Equatable {
    /// `hub.toml` is not valid.
    case invalidConfiguration(path: String, reason: String)
    /// A member of the peers file allowed the purpose has no budget in the configuration.
    case missingBudget(member: String)
    /// The ledger database refused an operation.
    case ledger(reason: String)
    /// The hub answered a member client's request with an error status.
    case refused(status: Int, code: String, reason: String)
    /// The hub's answer could not be used.
    case invalidAnswer(reason: String)
}

extension HubServiceError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .invalidConfiguration(let path, let reason): "\(path) is not a valid hub service configuration: \(reason)"
        case .missingBudget(let member): "member \"\(member)\" has no [[budget]] in the configuration; every member needs items_per_day and items_per_month"
        case .ledger(let reason): "the ledger database failed: \(reason)"
        case .refused(let status, let code, let reason): "the hub refused the request (HTTP \(status), \(code)): \(reason)"
        case .invalidAnswer(let reason): "the hub's answer is not usable: \(reason)"
        }
    }
}
