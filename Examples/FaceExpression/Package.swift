// swift-tools-version:6.1
import PackageDescription

// An app's view of fercc: the FerccPlugin compiles the models in Sources/FaceExpression/Models
// (described by the fercc.json beside them) into Swift classes at build time. The Fercc library
// is used only to decode PNG and JPEG files; an iOS app would use its own image APIs instead.
let package = Package(
    name: "FaceExpression",
    dependencies: [.package(name: "fercc", path: "../..")],
    targets: [
        .executableTarget(
            name: "FaceExpression",
            dependencies: [.product(name: "Fercc", package: "fercc")],
            exclude: ["Models/calibration"],
            plugins: [.plugin(name: "FerccPlugin", package: "fercc")]
        )
    ]
)
