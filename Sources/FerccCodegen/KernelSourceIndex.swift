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
        let architecture = target.architecture
        return "// fercc's kernels, from its Sources/FerccKernels (documented there), file by file.\n"
            + needed.sorted().map {
                "// MARK: - \($0)\n\(dropBranches(KernelSources.files[$0]!.text, for: architecture))"
            }
            .joined(separator: "\n")
    }

    /// `text` without the `#if` / `#elseif` branches whose condition is false on `architecture`
    /// (`arch(arm64)` in code for x86-64, say): generated code carries its own architecture's paths
    /// and the portable ones. Conditions are evaluated with only `arch(...)` known (flags such as
    /// FERCC_AVX2 may or may not be passed): a branch that might be taken stays, directives and all,
    /// so the code still compiles on any machine, with or without the flags.
    static func dropBranches(_ text: String, for architecture: Target.Architecture) -> String {
        guard architecture != .any, text.contains("arch(") else { return text }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
        var out: [Substring] = []
        BranchFilter(architecture: architecture).block(&lines, into: &out)
        return out.joined(separator: "\n")
    }
}

/// The line walk behind `KernelSourceIndex.dropBranches`.
struct BranchFilter {
    let architecture: Target.Architecture

    /// Copies lines to `out` up to this level's next `#elseif`, `#else` or `#endif` (left unread),
    /// resolving nested `#if` blocks.
    func block(_ lines: inout ArraySlice<Substring>, into out: inout [Substring]) {
        while let line = lines.first {
            let d = directive(line)
            if d.keyword == "#if" {
                conditional(&lines, into: &out)
            } else if ["#elseif", "#else", "#endif"].contains(d.keyword) {
                return
            } else {
                out.append(line)
                lines.removeFirst()
            }
        }
    }

    /// One `#if` ... `#endif` block, first line at `lines.first`, without its false branches.
    func conditional(_ lines: inout ArraySlice<Substring>, into out: inout [Substring]) {
        var opened = false  // whether a directive of this block has been written
        while let line = lines.first {
            let d = directive(line)
            lines.removeFirst()
            if d.keyword == "#endif" {
                if opened { out.append(line) }
                return
            }
            let value: Bool? = d.keyword == "#else" ? true : Self.evaluate(d.condition, architecture)
            if value == false {
                var dropped: [Substring] = []
                block(&lines, into: &dropped)
            } else if d.keyword == "#else" && !opened {
                block(&lines, into: &out)  // every earlier branch was false: the code stands alone
            } else {
                let keyword = opened || d.keyword == "#else" ? d.keyword : "#if"
                out.append(d.indent + keyword + (d.condition.isEmpty ? "" : " " + d.condition))
                opened = true
                block(&lines, into: &out)
            }
        }
    }

    /// A line's directive keyword (empty if it is not one of the four), indentation and condition.
    func directive(_ line: Substring) -> (keyword: String, indent: Substring, condition: Substring) {
        let body = line.drop { $0 == " " || $0 == "\t" }
        let indent = line[..<body.startIndex]
        for keyword in ["#elseif", "#endif", "#else", "#if"] where body.hasPrefix(keyword) {
            let rest = body.dropFirst(keyword.count)
            guard rest.isEmpty || rest.first == " " || rest.first == "(" || rest.first == "!" else { continue }
            return (keyword, indent, rest.drop { $0 == " " })
        }
        return ("", indent, "")
    }

    /// A compilation condition's value with `arch(...)` known and everything else unknown (nil),
    /// in three-valued logic; nil for anything it cannot read.
    static func evaluate(_ condition: Substring, _ architecture: Target.Architecture) -> Bool? {
        var tokens: [Substring] = []
        var rest = condition.prefix { $0 != "/" }[...]  // a trailing comment is not part of it
        while let c = rest.first {
            if c == " " {
                rest.removeFirst()
            } else if "()!".contains(c), !(c == "!" && rest.dropFirst().first == "=") {
                tokens.append(rest.prefix(1))
                rest.removeFirst()
            } else if rest.hasPrefix("&&") || rest.hasPrefix("||") {
                tokens.append(rest.prefix(2))
                rest.removeFirst(2)
            } else {
                let word = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                guard !word.isEmpty else { return nil }
                tokens.append(word)
                rest.removeFirst(word.count)
            }
        }
        var parser = ConditionParser(tokens: tokens[...], architecture: architecture)
        guard let value = parser.or(), parser.tokens.isEmpty else { return nil }
        return value.known
    }
}

/// `a || b`, `a && b`, `!a`, `(a)`, `arch(name)` and other atoms over three values.
struct ConditionParser {
    enum Value {
        case yes, no, unknown
        var known: Bool? { self == .yes ? true : self == .no ? false : nil }
    }
    var tokens: ArraySlice<Substring>
    let architecture: Target.Architecture

    mutating func or() -> Value? {
        guard var v = and() else { return nil }
        while tokens.first == "||" {
            tokens.removeFirst()
            guard let r = and() else { return nil }
            v = v == .yes || r == .yes ? .yes : v == .no && r == .no ? .no : .unknown
        }
        return v
    }

    mutating func and() -> Value? {
        guard var v = unary() else { return nil }
        while tokens.first == "&&" {
            tokens.removeFirst()
            guard let r = unary() else { return nil }
            v = v == .no || r == .no ? .no : v == .yes && r == .yes ? .yes : .unknown
        }
        return v
    }

    mutating func unary() -> Value? {
        guard let t = tokens.popFirst() else { return nil }
        switch t {
        case "!":
            guard let v = unary() else { return nil }
            return v == .yes ? .no : v == .no ? .yes : .unknown
        case "(":
            guard let v = or(), tokens.popFirst() == ")" else { return nil }
            return v
        default:
            guard tokens.first == "(" else { return .unknown }  // a flag
            tokens.removeFirst()
            var argument: [Substring] = []
            while let a = tokens.popFirst(), a != ")" { argument.append(a) }
            guard t == "arch", argument.count == 1 else { return .unknown }  // os(...), canImport(...)
            let name = architecture == .arm64 ? "arm64" : "x86_64"
            return argument[0] == name ? .yes : .no
        }
    }
}
