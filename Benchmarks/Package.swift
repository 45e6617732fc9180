// swift-tools-version: 6.1
// Benchmarks live in their own package so the library's build and tests never compile the
// benchmark framework. Run from this folder: `swift package benchmark`.
import PackageDescription

let package = Package(
    name: "SodiumPSIBenchmarks",
    dependencies: [
        .package(name: "sodium-psi", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "SodiumPSIBenchmarks",
            dependencies: [
                .product(name: "SodiumPSI", package: "sodium-psi"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/SodiumPSIBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
