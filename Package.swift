// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "sodium-psi",
    products: [
        .library(name: "SodiumPSI", targets: ["SodiumPSI"]),
        .executable(name: "psi", targets: ["psi"]),
        .executable(name: "psi-bench", targets: ["psi-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Documentation only: `swift package generate-documentation --target SodiumPSI`.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        .target(
            name: "SodiumPSI",
            dependencies: ["CSodium"],
            swiftSettings: swiftSettings,
            // iconv (list encodings) is in glibc on Linux, and a separate system library on macOS.
            linkerSettings: [.linkedLibrary("iconv", .when(platforms: [.macOS]))]
        ),
        .executableTarget(
            name: "psi",
            dependencies: [
                "SodiumPSI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "psi-bench",
            dependencies: [
                "SodiumPSI",
                "CSodium",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SodiumPSITests",
            dependencies: ["SodiumPSI", "CSodium"],
            resources: [.copy("Resources")],
            swiftSettings: swiftSettings
        ),
    ]
)

// Fuzz targets (libFuzzer) exist only for scripts/fuzz.sh, which sets SODIUM_PSI_FUZZ=1 and
// builds with -sanitize=fuzzer,address: they do not link without the fuzzer runtime.
if Context.environment["SODIUM_PSI_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzDriver", path: "Tests/Fuzz/FuzzDriver"))
    for name in ["FuzzMessageFile", "FuzzIdentifiers", "FuzzListReader", "FuzzStateFile"] {
        package.targets.append(.executableTarget(
            name: name, dependencies: ["SodiumPSI", "FuzzDriver", "CSodium"], path: "Tests/Fuzz/\(name)", swiftSettings: swiftSettings))
    }
}

// The hub as an HTTPS service (Docs/service.md): its own library target PSIService, the
// `psi-hub` executable and their tests. SODIUM_PSI_CORE_ONLY=1 (set by scripts/sanitize.sh,
// scripts/fuzz.sh and the Benchmarks build) drops all three and their package dependencies, so
// those stages never compile the server stack; scripts/test.sh builds and tests everything.
if Context.environment["SODIUM_PSI_CORE_ONLY"] == nil {
    package.dependencies += [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ]
    package.products += [
        .library(name: "PSIService", targets: ["PSIService"]),
        .executable(name: "psi-hub", targets: ["psi-hub"]),
    ]
    package.targets += [
        .target(
            name: "PSIService",
            dependencies: [
                "SodiumPSI",
                "CSodium",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "psi-hub",
            dependencies: [
                "PSIService",
                "SodiumPSI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // `psi exchange` (Docs/protocol.md, "Over the network"): the file-flow steps' messages over
        // one TLS connection. SwiftNIO only; the core library stays libsodium-only.
        .target(
            name: "PSINetwork",
            dependencies: [
                "SodiumPSI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PSINetworkTests",
            dependencies: ["PSINetwork", "SodiumPSI"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PSIServiceTests",
            dependencies: [
                "PSIService",
                "SodiumPSI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
    // psi-bench hub-service (Sources/psi-bench/HubServiceBench.swift, `#if canImport(PSIService)`):
    // only in the full build, so the CORE_ONLY Benchmarks build keeps psi-bench on the core.
    package.targets.first { $0.name == "psi-bench" }?.dependencies += [
        "PSIService", .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ]
    // psi exchange (Sources/psi/Exchange.swift, `#if canImport(PSINetwork)`): full build only too.
    package.targets.first { $0.name == "psi" }?.dependencies.append("PSINetwork")
}
