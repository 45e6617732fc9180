import ArgumentParser
import Foundation
import SodiumPSI

/// `psi-bench incremental`: a relationship's daily runs against a full exchange of the same lists.
struct IncrementalBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incremental",
        abstract: "Incremental daily runs (both sides, in one process) against a full exchange of the same lists in the same run.",
        discussion: """
        Day 1 is the relationship's first (full) exchange. Each later day, each side adds --churn × --items new
        items and removes as many; the run is timed from reading both list files to both finished states. Last,
        a new epoch on the final lists gives the full exchange of the same lists. Reports CPU seconds (all threads)
        and wall seconds of each, their ratio, wire bytes per changed item and state bytes per item.
        """)

    @Option(name: .long, help: "Items per side.") var items = 100_000
    @Option(name: .long, help: "Fraction of each side's list added and removed each day (0.01: 1% added, 1% removed).") var churn = 0.01
    @Option(name: .long, help: "Daily runs after the first full exchange.") var days = 3
    @Option(name: .long, help: "Worker threads (default: all cores).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(name: .long, help: "Print one JSON object instead of a table.") var json = false
    @Flag(name: .customLong("no-final-full"), help: "Skip the final full exchange and compare with the first one (lists of the same sizes), halving the run time at large sizes.")
    var noFinalFull = false

    func validate() throws {
        if items < 10 { throw ValidationError("--items must be at least 10") }
        if !(churn > 0 && churn < 0.5) { throw ValidationError("--churn must be above 0 and below 0.5") }
        if days < 1 { throw ValidationError("--days must be at least 1") }
    }

    struct Run {
        var wall: Double
        var cpu: Double
        var wireBytes: Int
        var changed: Int
        var matches: Int
        var listCPU: Double
        var stepCPU: [Double]
    }

    func run() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("psi-bench-incremental-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (a, b) = try benchConfigurations(suite: .ristretto255SHA512, maximumPeerSetSize: 4 * items,
                                             parallelism: Parallelism(threads: threads))
        let stateA = folder.appendingPathComponent("a.rel"), stateB = folder.appendingPathComponent("b.rel")
        let listFileA = folder.appendingPathComponent("a.txt"), listFileB = folder.appendingPathComponent("b.txt")
        let overlap = max(1, items / 10)
        // A holds 0..<n, B the first tenth of it and values from 10n on; new items come from fresh ranges.
        var listA = Array(0..<items), listB = Array(0..<overlap) + Array((10 * items)..<(10 * items + items - overlap))
        var nextA = 20 * items, nextB = 30 * items
        var random = SplitMix64(seed: 2026)
        let change = max(1, Int(Double(items) * churn))

        func runDay(epoch: UInt64?) throws -> Run {
            try writeSyntheticList(to: listFileA, ranges: listA.map { $0..<($0 + 1) })
            try writeSyntheticList(to: listFileB, ranges: listB.map { $0..<($0 + 1) })
            let wallStart = Date(), cpuStart = processCPUSeconds()
            let itemsA = try IdentifierListReader(url: listFileA, kind: .plain).readAll().records.map(\.identifier)
            let itemsB = try IdentifierListReader(url: listFileB, kind: .plain).readAll().records.map(\.identifier)
            let listCPU = processCPUSeconds() - cpuStart
            var marks = [processCPUSeconds()]
            let sentA = try IncrementalPSI.initiate(items: itemsA, configuration: a, state: stateA, epoch: epoch)
            marks.append(processCPUSeconds())
            let sentB = try IncrementalPSI.respond(request: sentA.message, items: itemsB, configuration: b, state: stateB)
            marks.append(processCPUSeconds())
            let outA = try IncrementalPSI.finishInitiator(response: sentB.message, configuration: a, state: stateA)
            marks.append(processCPUSeconds())
            let outB = try IncrementalPSI.finishResponder(reply: outA.reply!, configuration: b, state: stateB)
            marks.append(processCPUSeconds())
            let stepCPU = (1..<marks.count).map { marks[$0] - marks[$0 - 1] }
            let cpu = processCPUSeconds() - cpuStart, wall = Date().timeIntervalSince(wallStart)
            guard outA.matches.count == outB.matches.count else { throw ValidationError("the two sides disagree") }
            return Run(wall: wall, cpu: cpu, wireBytes: sentA.message.count + sentB.message.count + outA.reply!.count,
                       changed: sentA.added + sentA.removed + sentB.added + sentB.removed, matches: outA.matches.count, listCPU: listCPU, stepCPU: stepCPU)
        }

        func churnLists() {
            for _ in 0..<change {
                listA.swapAt(Int(random.next() % UInt64(listA.count)), listA.count - 1); listA.removeLast()
                listB.swapAt(Int(random.next() % UInt64(listB.count)), listB.count - 1); listB.removeLast()
            }
            listA += nextA..<(nextA + change); nextA += change
            listB += nextB..<(nextB + change); nextB += change
            // Some of each day's additions are items the peer holds already.
            for i in 0..<(change / 10) { listA[listA.count - 1 - i] = listB[i] }
        }

        let first = try runDay(epoch: nil)
        var daily = [Run]()
        for _ in 0..<days {
            churnLists()
            daily.append(try runDay(epoch: nil))
        }
        let stateBytes = try FileManager.default.attributesOfItem(atPath: stateA.path)[.size] as! Int
        let held = listA.count + listB.count
        let full = noFinalFull ? first : try runDay(epoch: 2)
        let meanCPU = daily.map(\.cpu).reduce(0, +) / Double(days)
        let meanWall = daily.map(\.wall).reduce(0, +) / Double(days)
        let changed = daily.map(\.changed).reduce(0, +), wire = daily.map(\.wireBytes).reduce(0, +)
        let report = Report(fields: [
            ("benchmark", "incremental"), ("items_per_side", items), ("churn", churn), ("days", days), ("threads", threads),
            ("first_exchange_cpu_seconds", first.cpu), ("first_exchange_seconds", first.wall),
            ("full_exchange", noFinalFull ? "the first exchange (same sizes)" : "a new epoch on the last day's lists"),
            ("full_exchange_cpu_seconds", full.cpu), ("full_exchange_seconds", full.wall),
            ("daily_cpu_seconds_mean", meanCPU), ("daily_seconds_mean", meanWall),
            ("daily_cpu_seconds", daily.map(\.cpu)), ("daily_list_read_cpu_seconds_mean", daily.map(\.listCPU).reduce(0, +) / Double(days)),
            ("daily_step_cpu_seconds_last", daily.last!.stepCPU), ("full_step_cpu_seconds", full.stepCPU),
            ("speedup_cpu", full.cpu / meanCPU), ("speedup_wall", full.wall / meanWall),
            ("changed_items_per_day", changed / days), ("wire_bytes_per_changed_item", Double(wire) / Double(changed)),
            ("full_wire_bytes_per_item", Double(full.wireBytes) / Double(held)),
            ("state_bytes_per_item", Double(stateBytes) / Double(held)), ("state_bytes", stateBytes),
            ("matches_last_day", full.matches), ("peak_rss_bytes", peakResidentBytes()),
        ])
        try report.print(json: json)
    }
}
