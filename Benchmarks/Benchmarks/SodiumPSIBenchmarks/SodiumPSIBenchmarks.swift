import Benchmark
import Foundation
import SodiumPSI

/// Hot operations of the library, one batch of 1,000 items per iteration (so throughput is
/// in batches per second), single-threaded so figures are per core. `psi-bench` measures whole protocols against raw libsodium; this suite tracks each
/// building block over time (`swift package benchmark baseline compare`).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(2),
        maxIterations: 10
    )
    let batch = 1_000
    let serial = Parallelism.serial
    let items = (0..<batch).map { try! Identifier.phoneNumber("+86139\(String(format: "%08d", $0))") }
    let inputs = items.map(\.psiEncoding)
    let purpose = try! PurposeLabel("benchmark")
    let phones = IdentifierType(kind: .phoneNumber)
    let identityA = try! PartyIdentity(seed: [UInt8](repeating: 1, count: 32))
    let identityB = try! PartyIdentity(seed: [UInt8](repeating: 2, count: 32))
    let config = MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, identity: identityA, peer: identityB.publicKey,
                                        identifierType: phones, parallelism: serial)
    let configB = MutualPSIConfiguration(purpose: purpose, outcome: .bothLearn, identity: identityB, peer: identityA.publicKey,
                                         identifierType: phones, parallelism: serial)
    let hasher = HashToGroup(domainSeparationTag: Array("SodiumPSI-V1-mutual-ristretto255-SHA512".utf8))

    Benchmark("hash to group ×1000") { benchmark in
        for _ in benchmark.scaledIterations {
            for input in inputs { blackHole(hasher.element(for: input)) }
        }
    }

    Benchmark("blind (hash + multiply, shuffle) ×1000") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try MutualPSIInitiator(items: items, configuration: config).blindedSet)
        }
    }

    let initiator = try! MutualPSIInitiator(items: items, configuration: config)
    Benchmark("re-blind (validate + multiply) ×1000") { benchmark in
        for _ in benchmark.scaledIterations {
            var responder = try MutualPSIResponder(items: items, configuration: configB)
            blackHole(try responder.respond(to: initiator.blindedSet))
        }
    }

    var responder = try! MutualPSIResponder(items: items, configuration: configB)
    let reply = try! responder.respond(to: initiator.blindedSet)
    Benchmark("finish: re-blind + intersect ×1000") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try initiator.finish(responderBlindedSet: reply.responderBlindedSet,
                                           initiatorSetReblinded: reply.initiatorSetReblinded))
        }
    }

    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sodium-psi-benchmarks-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let messageURL = folder.appendingPathComponent("m.spsi")
    Benchmark("message file: encode + decode ×1000 elements") { benchmark in
        for _ in benchmark.scaledIterations {
            try initiator.blindedSet.write(to: messageURL)
            blackHole(try MutualPSIMessage.read(from: messageURL))
        }
    }

    // The streaming path with every set partitioned into buckets on disk (limit 100 elements):
    // the engine's own cost beside the in-memory finish above.
    let records = items.enumerated().map { ListRecord(identifier: $1, original: $1.canonical, lineNumber: $0 + 1) }
    let streaming = StreamingOptions(chunkSize: 256, inMemoryLimit: 100, bucketCount: 16)
    var fileConfig = config
    fileConfig.streaming = streaming
    var fileConfigB = configB
    fileConfigB.streaming = streaming
    let file = { (name: String) in folder.appendingPathComponent(name) }
    Benchmark("file exchange, 4 streaming steps, partitioned ×1000 per side") { benchmark in
        for _ in benchmark.scaledIterations {
            _ = try MutualPSIFileExchange.initiate(records: records, configuration: fileConfig, stateURL: file("a.state"),
                                                   messageURL: file("1.spsi"), replacingState: true)
            _ = try MutualPSIFileExchange.respond(records: records, configuration: fileConfigB, requestURL: file("1.spsi"),
                                                  stateURL: file("b.state"), responderSetURL: file("2a.spsi"),
                                                  reblindedURL: file("2b.spsi"), replacingState: true)
            let a = try MutualPSIFileExchange.finishInitiator(stateURL: file("a.state"), identity: identityA, peer: identityB.publicKey,
                                                              responderSetURL: file("2a.spsi"), reblindedURL: file("2b.spsi"),
                                                              replyURL: file("3.spsi"), parallelism: serial, streaming: streaming)
            blackHole(try MutualPSIFileExchange.finishResponder(stateURL: file("b.state"), identity: identityB, peer: identityA.publicKey,
                                                                replyURL: file("3.spsi"), parallelism: serial, streaming: streaming))
            blackHole(a)
        }
    }

    let server = OPRF.Server(privateKey: .random())
    Benchmark("OPRF evaluate ×1000") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try server.evaluate(inputs, parallelism: serial))
        }
    }

    let blinded = try! OPRF.blind(inputs, parallelism: serial)
    let evaluated = try! server.blindEvaluate(blinded.blindedElements, parallelism: serial)
    Benchmark("OPRF finalize ×1000 (batch inversion)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try OPRF.finalize(inputs, batch: blinded, evaluatedElements: evaluated, parallelism: serial))
        }
    }
}
