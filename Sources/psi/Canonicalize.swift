import ArgumentParser
import Foundation
import SodiumPSI

/// `psi canonicalize`: what the exchange would hash for each value of a list, or why it would
/// refuse the value, so a data team can check normalisation before any exchange.
struct Canonicalize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print each value's canonical form or its error, as an exchange would read the list (nothing is sent).",
        discussion: "Reads the list exactly as initiate, respond, hub setup and member request do (same options, same refusals) and prints CSV on standard output: line,value,canonical,error, one row per value, valid or not, in file order. The counts go to standard error. The output holds your raw values.")

    @OptionGroup var input: InputOptions

    func validate() throws {
        try input.format.requireKind()
        try input.format.requireOneColumn("the output has one canonical form a row")
        try requireDistinctPaths(input.paths)
    }

    func run() throws {
        try runReportingErrors {
            let column = input.columns[0]
            let summary = try input.reader(column).writeCanonicalForms { try writeStandardOutput(Data($0.utf8)) }
            report(summary, input, column)
        }
    }
}
