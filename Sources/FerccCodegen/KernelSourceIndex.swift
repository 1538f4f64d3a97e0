import FerccIR
import FerccLowering

/// The kernel files generated code carries: the ones its plan's calls name, and everything they
/// require, for every instruction set of the target's column (portable always).
enum KernelSourceIndex {
    /// The files' text, in path order, each under a MARK line naming it, after one line saying
    /// where they come from.
    static func text(for files: Set<String>, target: Target) throws -> String {
        let isas = [""] + target.isas.map(\.rawValue)
        var needed = Set<String>()
        var pending = Array(files)
        while let f = pending.popLast() {
            guard needed.insert(f).inserted else { continue }
            guard let file = KernelSources.files[f] else {
                throw FerccError("the code generator has no kernel file '\(f)'")
            }
            for isa in isas { pending += file.requires[isa] ?? [] }
        }
        return "// fercc's kernels, from its Sources/FerccKernels (documented there), file by file.\n"
            + needed.sorted().map { "// MARK: - \($0)\n\(KernelSources.files[$0]!.text)" }.joined(separator: "\n")
    }
}
