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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
