import ArgumentParser
import Foundation
import SodiumPSI

@main
struct PSI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "psi",
        abstract: "Private set intersection between two institutions, over files.",
        discussion: """
        First, once: psi identity create --identity me.identity, and exchange public keys with your peers
        (each side lists the other in its peers file). Every step then takes --identity and --peers.

        Mutual PSI in four steps; the initiator (A) and the responder (B) exchange message files:
          A: psi initiate  → 1-initiator-blinded.spsi
          B: psi respond   → 2-responder-blinded.spsi, 2-initiator-reblinded.spsi
          A: psi finish    → result (and 3-responder-reblinded.spsi unless --outcome initiator-learns)
          B: psi finish    → result (both-learn and cardinality-only)
        Both sides must use the same --purpose, --outcome, --kind (and --case-insensitive); each names the other with --peer.
        Each finish step writes a signed receipt (STATE.receipt.json); check both sides' with
          psi receipt verify a.state.receipt.json --peer-receipt b.state.receipt.json

        Unbalanced PSI (one hub, many members): psi hub keygen|setup|respond, psi member request|finish.
        Daily runs of a relationship that send only what changed: psi incremental initiate|respond|finish.
        Check a list before any exchange: psi canonicalize (each value's canonical form or its error).

        Files: every file of one step must be a different file (64 otherwise). An existing state file
        is never replaced without --force (hub keygen: --rotate); message files are replaced.

        Exit codes: 0 success, 64 usage error (bad option, two options naming the same file),
        65 bad input list (also: no valid value, too many invalid, wrong encoding), 66 input file missing or unreadable, 73 output cannot be created (missing or
        read-only folder, existing state or key), 74 I/O error while writing (disk full), 76 protocol,
        message-file or state-file error (refused file, wrong session, tampering, finished state),
        69 psi exchange: the peer could not be reached, was lost or stalled (--timeout), 77 psi exchange:
        an identity or handshake signature was refused, by either side (the refused side prints why), 1 other.
        """,
        version: ToolVersion.current,
        subcommands: [Initiate.self, Respond.self, Finish.self, Inspect.self, Canonicalize.self, Sample.self,
                      HubCommand.self, MemberCommand.self, IdentityCommand.self, ReceiptCommand.self, IncrementalCommand.self]
                     + networkSubcommands
    )
}

/// Exit codes, from sysexits.h where one fits.
enum ExitStatus {
    static let usage: Int32 = 64
    static let badInput: Int32 = 65
    static let noInput: Int32 = 66
    static let cannotCreate: Int32 = 73
    static let ioError: Int32 = 74
    static let protocolError: Int32 = 76
    static let failure: Int32 = 1

    static func code(for error: any Error) -> Int32 {
        switch error {
        case OutputFileError.samePath, OutputFileError.missingPath, PSIError.invalidPurposeLabel,
             UnbalancedPSIError.invalidEncodingParameter: return usage
        case OutputFileError.exists, OutputFileError.cannotCreate, UnbalancedPSIError.keyFileExists,
             TrustError.identityFileExists: return cannotCreate
        case OutputFileError.writeFailed: return ioError
        case IdentifierListError.unreadable, MessageFileError.io, StateFileError.io, TrustError.io: return noInput
        case is IdentifierError, is IdentifierListError: return badInput
        case is UnbalancedPSIError, is IncrementalPSIError: return protocolError
        case ReceiptError.io: return noInput
        case is MessageFileError, is PSIError, is StateFileError, is TrustError, is ReceiptError: return protocolError
        default: return failure
        }
    }
}

/// Runs a command body, printing library errors as `psi: error: …` with the right exit code.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch let MessageFileError.purposeMismatch(path, found, expected) {
        note("psi: error: \(ErrorNames.shared.decorate(ErrorNames.shared.purposeMismatch(path: path, found: found, expected: expected)))")
        throw ExitCode(ExitStatus.protocolError)
    } catch {
        note("psi: error: \(ErrorNames.shared.decorate(error.localizedDescription))")
        throw ExitCode(ExitStatus.code(for: error))
    }
}

/// Writes a line to standard error.
func note(_ message: String) {
    ProgressBar.clearLine()
    writeStandardError(message + "\n")
}

/// Writes to standard error, ignoring failures (`FileHandle.write` traps when it cannot write).
func writeStandardError(_ text: String) {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return }
        offset += n
    }
}
