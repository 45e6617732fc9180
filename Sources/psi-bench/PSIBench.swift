import ArgumentParser
import Dispatch
import Foundation
import SodiumPSI

@main
struct PSIBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "psi-bench",
        abstract: "Throughput of SodiumPSI beside the raw libsodium lower bound, measured in the same run.",
        discussion: """
        Every subcommand times the library's real code path, then the same libsodium calls made
        directly in a tight loop on the same threads, and reports ratio_to_raw = seconds / raw_seconds:
        a figure that holds on any machine, however fast or busy.
        """,
        subcommands: [Mutual.self, OPRFBench.self, Intersect.self, LookupBench.self, IncrementalBench.self] + hubServiceSubcommands)
}

struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Items per side.") var items = 100_000
    @Option(name: .long, help: "Worker threads (default: all cores).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .long, help: "Items a worker takes at a time (default \(Parallelism.defaultBatchSize)).")
    var batch = Parallelism.defaultBatchSize

    @Option(name: .long, help: "Streaming: items read, blinded or re-blinded at a time (default \(StreamingOptions.default.chunkSize)).")
    var chunk = StreamingOptions.default.chunkSize
    @Option(name: .customLong("in-memory-limit"), help: "Streaming: elements a set holds in memory before it is partitioned on disk (default \(StreamingOptions.default.inMemoryLimit)).")
    var inMemoryLimit = StreamingOptions.default.inMemoryLimit
    @Option(name: .long, help: "Streaming: buckets of a partitioned set (default \(StreamingOptions.default.bucketCount)).")
    var buckets = StreamingOptions.default.bucketCount

    var parallelism: Parallelism { Parallelism(threads: threads, batchSize: batch) }
    var streaming: StreamingOptions { StreamingOptions(chunkSize: chunk, inMemoryLimit: inMemoryLimit, bucketCount: buckets) }
    @Flag(name: .long, help: "Print one JSON object instead of a table.") var json = false

    func validate() throws {
        if items < 1 { throw ValidationError("--items must be at least 1") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        if chunk < 1 || inMemoryLimit < 1 || buckets < 1 { throw ValidationError("--chunk, --in-memory-limit and --buckets must be at least 1") }
    }
}

/// One measurement, printed as a table or as JSON.
struct Report {
    var fields: [(String, Any)]

    var object: [String: Any] { Dictionary(uniqueKeysWithValues: fields) }

    func value(_ name: String) -> Any? { fields.first { $0.0 == name }?.1 }

    func print(json: Bool) throws {
        if json {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            Swift.print(String(decoding: data, as: UTF8.self))
        } else {
            let width = fields.map(\.0.count).max() ?? 0
            for (name, value) in fields {
                let text: String
                if let d = value as? Double { text = String(format: "%.4f", d) } else { text = "\(value)" }
                Swift.print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + text)
            }
        }
    }
}

/// The `n`th synthetic value: a phone number written as plain text.
func syntheticValue(_ n: Int) -> String { "+86139\(String(format: "%08d", n))" }

/// Synthetic distinct phone numbers; `overlap` of them shared by both sides.
/// The two sides' configurations of a benchmark exchange: each with its own identity, naming
/// the other as peer, over plain identifiers.
func benchConfigurations(suite: PSISuite, verifiable: Bool = false, maximumPeerSetSize: Int, parallelism: Parallelism,
                         streaming: StreamingOptions = .default) throws -> (a: MutualPSIConfiguration, b: MutualPSIConfiguration) {
    let identityA = PartyIdentity(), identityB = PartyIdentity()
    func configuration(_ identity: PartyIdentity, _ peer: PartyIdentity) throws -> MutualPSIConfiguration {
        MutualPSIConfiguration(purpose: try PurposeLabel("psi-bench"), outcome: .bothLearn, identity: identity, peer: peer.publicKey,
                               identifierType: IdentifierType(kind: .plain), suite: suite, verifiable: verifiable,
                               maximumPeerSetSize: maximumPeerSetSize,
                               parallelism: parallelism, streaming: streaming)
    }
    return (try configuration(identityA, identityB), try configuration(identityB, identityA))
}

func syntheticItems(count: Int, overlap: Int) -> (a: [Identifier], b: [Identifier]) {
    func phone(_ n: Int) -> Identifier { try! Identifier.plain(syntheticValue(n)) }
    let a = (0..<count).map(phone)
    let b = (0..<overlap).map(phone) + (count..<(2 * count - overlap)).map(phone)
    return (a, b)
}

/// Writes the synthetic values of `ranges` to a list file, one a line, a megabyte at a time.
func writeSyntheticList(to url: URL, range: Range<Int>) throws { try writeSyntheticList(to: url, ranges: [range]) }

func writeSyntheticList(to url: URL, ranges: [Range<Int>]) throws {
    try writeLines(to: url, ranges.joined().lazy.map(syntheticValue))
}

/// Writes `header` (if any) and each line, a megabyte at a time.
func writeLines(to url: URL, header: String? = nil, _ lines: some Sequence<String>) throws {
    guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
        throw ValidationError("cannot create \(url.path)")
    }
    let handle = try FileHandle(forWritingTo: url)
    defer { try? handle.close() }
    var buffer = header.map { Array(($0 + "\n").utf8) } ?? []
    for line in lines {
        buffer += line.utf8
        buffer.append(0x0A)
        if buffer.count >= 1 << 20 {
            try handle.write(contentsOf: buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }
    try handle.write(contentsOf: buffer)
}
