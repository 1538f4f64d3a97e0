import Fercc
import FerccIR
import FerccONNX
import FerccPasses
import FerccRuntime
import Foundation
import FuzzDriver

/// Structure-aware: the fuzz input is a script of mutations applied to one of fercc's valid ONNX
/// fixture models (attributes, shapes, initializer dimensions, node inputs, op types), after
/// parsing, so that nearly every case gets past the reader into the importer, validation, the
/// passes and, when it still imports and is small, the interpreter on zero inputs.
let models: [ONNXModel] = {
    let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "../../../fixtures/onnx"
    ).standardizedFileURL.path
    let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
        $0.hasSuffix(".onnx")
    }.sorted()
    return keptForTheWholeRun { files.compactMap { try? ONNXReader.read(path: directory + "/" + $0) } }
}()

let interestingInts: [Int64] = [
    0, 1, -1, 2, 3, 4, 7, 8, 16, 255, 256, 65_535, 1 << 20, 1 << 31, (1 << 31) - 1, -(1 << 31), 1 << 40,
    Int64.max, Int64.min, 30_000_000_000
]
let interestingFloats: [Float] = [0, -0.0, 1, -1, .nan, .infinity, -.infinity, 1e-30, 1e30, .leastNonzeroMagnitude]

struct Script {
    var bytes: UnsafeBufferPointer<UInt8>
    var at = 0
    mutating func next() -> Int? {
        guard at < bytes.count else { return nil }
        defer { at += 1 }
        return Int(bytes[at])
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMutatedModels(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard !models.isEmpty else { fatalError("no ONNX fixtures found next to FuzzTesting") }
    var script = Script(bytes: UnsafeBufferPointer(start: data, count: size))
    guard let pick = script.next() else { return 0 }
    var model = models[pick % models.count]
    while let op = script.next(), let a = script.next(), let b = script.next() {
        mutate(&model, op: op, a, b)
    }
    guard var graph = try? ONNXImporter.importModel(model, path: "fuzz.onnx") else { return 0 }
    guard (try? PassManager.run(&graph, pipeline: PassManager.defaultPipeline)) != nil else { return 0 }
    // Run what is small enough to run quickly (an unmutated fixture of 2^20 values took 2.4 s in
    // this AddressSanitizer debug build, over 10 s on a loaded machine: a false hang).
    let total = graph.values.values.reduce(0) { $0 + min($1.type.count, 1 << 24) }
    guard total < 1 << 18, let interpreter = try? Interpreter(graph: graph) else { return 0 }
    var feeds: [String: [Float]] = [:]
    for name in graph.inputs { feeds[name] = [Float](repeating: 0.5, count: graph.values[name]!.type.count) }
    _ = try? interpreter.run(feeds)
    return 0
}

func mutate(_ model: inout ONNXModel, op: Int, _ a: Int, _ b: Int) {
    var g = model.graph
    switch op % 7 {
    case 0, 1:  // an int or ints attribute
        guard !g.nodes.isEmpty else { break }
        let n = a % g.nodes.count
        let keys = g.nodes[n].attributes.keys.sorted()
        guard !keys.isEmpty else { break }
        let key = keys[b % keys.count]
        let v = interestingInts[(a + b) % interestingInts.count]
        switch g.nodes[n].attributes[key]! {
        case .int: g.nodes[n].attributes[key] = .int(v)
        case .ints(var list) where !list.isEmpty:
            list[b % list.count] = v
            g.nodes[n].attributes[key] = .ints(op % 7 == 1 ? list : Array(list.dropLast()))
        case .float: g.nodes[n].attributes[key] = .float(interestingFloats[b % interestingFloats.count])
        case .floats(var list) where !list.isEmpty:
            list[a % list.count] = interestingFloats[b % interestingFloats.count]
            g.nodes[n].attributes[key] = .floats(list)
        default: g.nodes[n].attributes[key] = nil
        }
    case 2:  // an input dimension
        guard !g.inputs.isEmpty, var dims = g.inputs[a % g.inputs.count].dims, !dims.isEmpty else { break }
        dims[b % dims.count] = b % 5 == 0 ? .symbol("n") : .value(Int(interestingInts[b % interestingInts.count]))
        g.inputs[a % g.inputs.count].dims = dims
    case 3:  // an initializer's dimensions (no longer matching its data)
        guard !g.initializers.isEmpty else { break }
        let i = a % g.initializers.count
        if g.initializers[i].dims.isEmpty {
            g.initializers[i].dims = [b]
        } else {
            g.initializers[i].dims[b % g.initializers[i].dims.count] = Int(
                truncatingIfNeeded: interestingInts[a % interestingInts.count])
        }
    case 4:  // a node input rewired to another value, or removed
        guard !g.nodes.isEmpty else { break }
        let n = a % g.nodes.count
        guard !g.nodes[n].inputs.isEmpty else { break }
        let names = g.nodes.flatMap(\.outputs) + g.inputs.map(\.name) + g.initializers.map(\.name)
        let k = b % g.nodes[n].inputs.count
        if b % 3 == 0 { g.nodes[n].inputs.remove(at: k) } else { g.nodes[n].inputs[k] = names[(a + b) % names.count] }
    case 5:  // another op type
        guard !g.nodes.isEmpty else { break }
        let types = Array(Set(models.flatMap { $0.graph.nodes.map(\.opType) })).sorted()
        g.nodes[a % g.nodes.count].opType = types[b % types.count]
    default:  // nodes swapped (order) or one dropped
        guard g.nodes.count > 1 else { break }
        if b % 2 == 0 {
            g.nodes.swapAt(a % g.nodes.count, b % g.nodes.count)
        } else {
            g.nodes.remove(at: a % g.nodes.count)
        }
    }
    model.graph = g
}

/// SwiftPM's entry point for this target: libFuzzer's driver (FuzzDriver).
@_cdecl("FuzzMutatedModels_main")
public func FuzzMutatedModelsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzMutatedModels(data!, size) }
}
