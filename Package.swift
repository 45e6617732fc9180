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
