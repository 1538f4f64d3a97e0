import Foundation
import PackagePlugin

/// Gives FerccCodegen the source text of the kernels (KernelSources.swift in the plugin's work
/// directory), made from FerccKernels' files at build time, so no copy is committed and the
/// generated code always carries the kernels this build runs.
@main
struct EmbedKernelSources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let kernels = try context.package.targets(named: ["FerccKernels"]).first as? SourceModuleTarget else {
            throw PluginError("the package has no FerccKernels target")
        }
        let inputs = kernels.sourceFiles(withSuffix: "swift").map(\.url)
        let output = context.pluginWorkDirectoryURL.appending(path: "KernelSources.swift")
        return [
            .buildCommand(
                displayName: "Embedding the kernel sources for \(target.name)",
                executable: try context.tool(named: "fercc-embed-kernels").url,
                arguments: [output.path(percentEncoded: false), kernels.directoryURL.path(percentEncoded: false)]
                    + inputs.map { $0.path(percentEncoded: false) },
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}

struct PluginError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
