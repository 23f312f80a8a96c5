// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "pier",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pier", targets: ["pier"]),
        .executable(name: "pier-table-bench", targets: ["pier-table-bench"]),
        .executable(name: "pier-nio-floor", targets: ["pier-nio-floor"]),
        .library(name: "RouteModel", targets: ["RouteModel"]),
        .library(name: "LabelConfig", targets: ["LabelConfig"]),
        .library(name: "ProxyCore", targets: ["ProxyCore"]),
        .library(name: "HTTP1Codec", targets: ["HTTP1Codec"]),
        .library(name: "Providers", targets: ["Providers"]),
        .library(name: "Publishing", targets: ["Publishing"]),
        .library(name: "Admin", targets: ["Admin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Credentials: P-256 keys, AES-GCM, HKDF (Crypto) and X.509 issuing (X509, with SwiftASN1).
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        // Metrics: the swift-metrics API (Publishing counts reloads through it) and its Prometheus backend,
        // whose registry the admin entrypoint's /metrics writes out.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // MARK: - Pure model (stdlib only)
        .target(name: "RouteModel"),
        .target(name: "LabelConfig", dependencies: ["RouteModel"]),

        // MARK: - Control plane
        // The one publish path: sources hand builds to a publisher, which tells the data plane and the proxies.
        .target(
            name: "Publishing",
            dependencies: [
                "RouteModel", "LabelConfig",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "DockerEngine",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "Providers",
            dependencies: [
                "RouteModel", "LabelConfig", "DockerEngine", "Publishing",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // The config channel between controllers and proxies (HTTP/2 over mutual TLS, on NIO).
        .target(
            name: "ControlPlane",
            dependencies: [
                "RouteModel", "LabelConfig", "Publishing",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The admin entrypoint of every role (serve, controller, proxy): health, status JSON, /metrics, dashboard.
        .target(
            name: "Admin",
            dependencies: [
                "RouteModel", "LabelConfig", "Publishing", "ControlPlane",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // MARK: - Cluster credentials (controller ↔ proxy mTLS, encrypted proxy state file)
        .target(
            name: "Credentials",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: - Data plane
        // Pier's HTTP/1.1 grammar: heads parsed in place, chunked bodies decoded as slices (NIOCore only).
        .target(
            name: "HTTP1Codec",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .target(
            name: "ProxyCore",
            dependencies: [
                "RouteModel", "HTTP1Codec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            // The data plane's classes are confined to one event loop each; dynamic exclusivity checks
            // cost several percent of its CPU per request in release builds (measured with perf).
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),

        // MARK: - Executable
        .executableTarget(
            name: "pier",
            dependencies: [
                "RouteModel", "LabelConfig", "Providers", "ProxyCore", "DockerEngine", "Publishing", "ControlPlane", "Credentials", "Admin",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        // MARK: - Benchmarks (bench/run, scenario f)
        .executableTarget(name: "pier-table-bench", dependencies: ["LabelConfig", "RouteModel"]),
        // The thinnest HTTP/1.1 proxy NIO's typed handlers allow: the floor Pier is measured against.
        .executableTarget(
            name: "pier-nio-floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ]
        ),

        // MARK: - Fuzz targets (scripts/fuzz, docs/fuzzing.md)
        // One executable per parser under Fuzz/Targets, sharing FuzzSupport's input cursor and driver. A plain
        // build makes corpus-replay drivers (they build with the tests, so the targets cannot rot);
        // scripts/fuzz builds them again with `--sanitize=fuzzer --sanitize=address -DPIER_LIBFUZZER` into
        // .build-fuzz, where they run under libFuzzer. Each depends only on the module it exercises.
        .target(name: "FuzzSupport", path: "Fuzz/Support"),
        .executableTarget(name: "fuzz-host-name", dependencies: ["FuzzSupport", "RouteModel"], path: "Fuzz/Targets/HostName"),
        .executableTarget(name: "fuzz-request-path", dependencies: ["FuzzSupport", "RouteModel"], path: "Fuzz/Targets/RequestPath"),
        .executableTarget(name: "fuzz-labels", dependencies: ["FuzzSupport", "LabelConfig", "RouteModel"], path: "Fuzz/Targets/Labels"),
        .executableTarget(name: "fuzz-config-file", dependencies: ["FuzzSupport", "Providers", "RouteModel"], path: "Fuzz/Targets/ConfigFile"),
        // These two reach ProxyCore's internals with `@testable import` (debug builds allow it).
        .executableTarget(
            name: "fuzz-proxy-protocol",
            dependencies: ["FuzzSupport", "ProxyCore", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/Targets/ProxyProtocol"
        ),
        .executableTarget(
            name: "fuzz-sni-classifier",
            dependencies: [
                "FuzzSupport", "ProxyCore", "RouteModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Fuzz/Targets/SNIClassifier"
        ),

        // Differential targets: Pier's HTTP1Codec against NIO's llhttp-based decoders, run on an EmbeddedChannel.
        .target(
            name: "FuzzHTTP1Support",
            dependencies: [
                "FuzzSupport", "HTTP1Codec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Fuzz/HTTP1Support"
        ),
        .executableTarget(name: "fuzz-http1-request", dependencies: ["FuzzSupport", "FuzzHTTP1Support"], path: "Fuzz/Targets/HTTP1Request"),
        .executableTarget(name: "fuzz-http1-response", dependencies: ["FuzzSupport", "FuzzHTTP1Support"], path: "Fuzz/Targets/HTTP1Response"),
        .executableTarget(
            name: "fuzz-http1-chunked",
            dependencies: ["FuzzSupport", "FuzzHTTP1Support", "HTTP1Codec", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/Targets/HTTP1Chunked"
        ),

        // MARK: - Tests
        .target(
            name: "TestSupport",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: [
                "ControlPlane", "Publishing", "LabelConfig", "RouteModel", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "RouteModelTests", dependencies: ["RouteModel"]),
        .testTarget(name: "HTTP1CodecTests", dependencies: ["HTTP1Codec", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(
            name: "AdminTests",
            dependencies: [
                "Admin", "Publishing", "LabelConfig", "RouteModel", "TestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "LabelConfigTests",
            dependencies: ["LabelConfig", "RouteModel"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "ProvidersTests",
            dependencies: ["Providers", "Publishing", "LabelConfig", "RouteModel", "DockerEngine", "TestSupport",
                           .product(name: "Logging", package: "swift-log")],
            resources: [.copy("Recorded")]
        ),
        .testTarget(
            name: "ProxyCoreTests",
            dependencies: [
                "ProxyCore", "RouteModel", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CredentialsTests",
            dependencies: [
                "Credentials",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "ProxyCore", "Providers", "Publishing", "ControlPlane", "Admin", "LabelConfig", "RouteModel", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
