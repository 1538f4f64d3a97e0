// Writes KernelSources.swift: the text of every kernel file of Sources/FerccKernels (as they
// are, declarations untouched) with the files each one requires, so that the code generator
// pastes into generated code exactly the kernels the interpreter runs. Run by the
// EmbedKernelSources build-tool plugin; usage: fercc-embed-kernels OUTPUT KERNELS_DIR FILE...
import Foundation

struct Entry {
    var path: String
    var text: String
    var requires: [String: [String]]  // "" for every target, else an ISA's raw value
}

@main
enum EmbedKernels {
    static func main() {
        let args = CommandLine.arguments
        guard args.count >= 3 else {
            FileHandle.standardError.write(Data("usage: fercc-embed-kernels OUTPUT KERNELS_DIR FILE...\n".utf8))
            exit(2)
        }
        let output = args[1]
        let root = URL(fileURLWithPath: args[2]).standardizedFileURL.path
        let marker = "// fercc-kernel requires"

        var entries: [Entry] = []
        for file in args[3...].sorted() {
            let path = URL(fileURLWithPath: file).standardizedFileURL.path
            guard path.hasPrefix(root + "/") else { continue }
            let relative = String(path.dropFirst(root.count + 1))
            if relative == "Kernels.swift" { continue }  // the namespace: generated code declares its own
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                FileHandle.standardError.write(Data("error: \(path): cannot read\n".utf8))
                exit(1)
            }
            var requires: [String: [String]] = [:]
            for line in text.split(separator: "\n") where line.hasPrefix(marker) {
                // "// fercc-kernel requires: a b" or "// fercc-kernel requires(avx2): a b"
                let rest = line.dropFirst(marker.count)
                var isa = ""
                if rest.hasPrefix("("), let close = rest.firstIndex(of: ")") {
                    isa = String(rest[rest.index(after: rest.startIndex)..<close])
                }
                guard let colon = rest.firstIndex(of: ":") else { continue }
                requires[isa, default: []] += rest[rest.index(after: colon)...].split(separator: " ").map(String.init)
            }
            entries.append(Entry(path: relative, text: copyText(text), requires: requires))
        }

        /// The text generated code carries: declarations and code as they are, without the comment
        /// lines (the documentation stays in fercc's sources) and indented by two spaces a level instead
        /// of four, which keeps a model's file a third smaller.
        func copyText(_ text: String) -> String {
            var lines: [String] = []
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let indent = line.prefix { $0 == " " }.count
                let body = line.dropFirst(indent)
                if body.hasPrefix("//") { continue }
                if body.isEmpty {
                    if lines.last?.isEmpty ?? true { continue }
                    lines.append("")
                    continue
                }
                lines.append(String(repeating: " ", count: indent / 4 * 2 + indent % 4) + body)
            }
            return lines.joined(separator: "\n")
        }

        func literal(_ s: String) -> String {
            // A raw string literal whose delimiter the text cannot close.
            var hashes = "#"
            while s.contains("\"\"\"" + hashes) || s.contains("\"" + hashes) { hashes += "#" }
            return "\(hashes)\"\"\"\n\(s)\n\"\"\"\(hashes)"
        }

        var out = """
            // Generated at build time by fercc-embed-kernels from Sources/FerccKernels (the
            // EmbedKernelSources plugin). Do not edit.

            /// The kernels' source text, for generated code: the files the interpreter runs, verbatim.
            enum KernelSources {
                static let files: [String: (text: String, requires: [String: [String]])] = [

            """
        for e in entries {
            let requires = e.requires.sorted { $0.key < $1.key }.map {
                "\"\($0.key)\": [\($0.value.map { "\"\($0)\"" }.joined(separator: ", "))]"
            }
            out +=
                "        \"\(e.path)\": (\n\(literal(e.text)),\n            "
                + "[\(requires.isEmpty ? ":" : requires.joined(separator: ", "))]),\n"
        }
        out += "    ]\n}\n"
        let data = Data(out.utf8)
        if (try? Data(contentsOf: URL(fileURLWithPath: output))) != data {
            do {
                try data.write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                FileHandle.standardError.write(Data("error: \(output): \(error.localizedDescription)\n".utf8))
                exit(1)
            }
        }
    }
}
