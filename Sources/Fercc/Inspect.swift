import FerccIR
import FerccPasses
import Foundation

/// What `fercc inspect` reports: every node with its shapes, parameters and MACs, and totals.
public struct InspectReport: Codable, Equatable {
    public struct Tensor: Codable, Equatable {
        public var name: String
        public var shape: [Int]
        public var dtype: String
    }

    public struct NodeRow: Codable, Equatable {
        public var op: String
        public var name: String
        public var inputs: [Tensor]
        public var outputs: [Tensor]
        public var parameters: Int
        public var macs: Int
    }

    public struct Summary: Codable, Equatable {
        public var nodes: Int
        public var parameters: Int
        public var weight_bytes: Int
        public var macs: Int
        public var op_counts: [String: Int]
    }

    public var model: String
    public var format: String
    public var producer: String
    public var opset: Int
    public var inputs: [Tensor]
    public var outputs: [Tensor]
    public var nodes: [NodeRow]
    public var summary: Summary
    /// With --optimized: what each pass did, and the summary before the passes.
    public var passes: [PassResult]?
    public var before: Summary?
    public var peak_activation_bytes: Int?
    /// Bytes of every activation the nodes write in one inference (all node outputs).
    public var activation_bytes: Int?

    public init(graph: Graph, model: String, passes: [PassResult]? = nil, before: Graph? = nil) {
        func tensor(_ name: String) -> Tensor {
            let t = graph.values[name]!.type
            return Tensor(name: name, shape: t.shape, dtype: t.dtype.rawValue)
        }
        self.model = model
        format = graph.source.format
        producer = graph.source.producer
        opset = graph.source.opset
        inputs = graph.inputs.map(tensor)
        outputs = graph.outputs.map(tensor)
        var rows: [NodeRow] = []
        var counts: [String: Int] = [:]
        var totalParams = 0, totalBytes = 0, totalMacs = 0
        var counted = Set<String>()
        for node in graph.nodes {
            let s = graph.stats(of: node)
            let op = Self.displayOp(node, graph)
            rows.append(
                NodeRow(
                    op: op, name: node.name, inputs: node.inputs.map(tensor), outputs: node.outputs.map(tensor),
                    parameters: s.parameters, macs: s.macs))
            counts[op, default: 0] += 1
            totalMacs = totalMacs.addingReportingOverflow(s.macs).overflow ? Int.max : totalMacs + s.macs
            // A constant read by two nodes is stored once.
            for input in node.inputs where graph.values[input]?.isConstant == true && counted.insert(input).inserted {
                let v = graph.values[input]!
                totalParams += v.type.count
                totalBytes += v.type.count * v.type.dtype.byteSize
            }
        }
        nodes = rows
        summary = Summary(
            nodes: rows.count, parameters: totalParams, weight_bytes: totalBytes, macs: totalMacs, op_counts: counts)
        self.passes = passes
        self.before = before.map { InspectReport(graph: $0, model: model).summary }
        peak_activation_bytes = graph.peakActivationBytes()
        activation_bytes = graph.nodes.flatMap(\.outputs).reduce(0) { total, name in
            guard let v = graph.values[name], !v.isConstant else { return total }
            return total + v.type.count * v.type.dtype.byteSize
        }
    }

    static func displayOp(_ node: Node, _ graph: Graph) -> String {
        var name = node.op.name
        if case .conv2D(let c) = node.op, let w = graph.values[node.inputs[1]]?.type.shape,
            c.groups > 1, w[3] == 1, w[0] == c.groups
        {
            name = "DepthwiseConv2D"
        }
        var activation = Activation.identity
        switch node.op {
        case .conv2D(let c): activation = c.activation
        case .gemm(let g): activation = g.activation
        case .binary(_, let a): activation = a
        case .depthwisePointwise(_, let pw, _, let residual), .expandDepthwisePointwise(_, _, let pw, let residual):
            activation = pw.activation
            // The residual add and its activation: "+Add+Relu".
            if let r = residual {
                let base = activation == .identity ? name : "\(name)+\(activation.name)"
                return r == .identity ? "\(base)+Add" : "\(base)+Add+\(r.name)"
            }
        default: break
        }
        return activation == .identity ? name : "\(name)+\(activation.name)"
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public func text() -> String {
        func shape(_ t: Tensor) -> String { t.shape.map(String.init).joined(separator: "x") }
        var lines: [String] = []
        lines.append("model     \(model)")
        lines.append("format    \(format), opset \(opset), producer \(producer.isEmpty ? "unknown" : producer)")
        for t in inputs { lines.append("input     \(t.name) \(t.dtype)[\(shape(t))]") }
        for t in outputs { lines.append("output    \(t.name) \(t.dtype)[\(shape(t))]") }
        lines.append("")
        let header = ["#", "op", "name", "inputs", "outputs", "params", "MACs"]
        var table: [[String]] = [header]
        for (i, n) in nodes.enumerated() {
            let ins = n.inputs.map(shape).joined(separator: ", ")
            let outs = n.outputs.map(shape).joined(separator: ", ")
            table.append([String(i), n.op, n.name, ins, outs, grouped(n.parameters), grouped(n.macs)])
        }
        let widths = (0..<header.count).map { c in min(table.map { $0[c].count }.max() ?? 0, c == 2 ? 48 : 40) }
        for row in table {
            let cells = row.enumerated().map { c, cell -> String in
                // Names are never shortened: they are what --exclude and --dump take (a long one
                // pushes its row's later columns right instead).
                let text = c != 2 && cell.count > widths[c] ? "…" + cell.suffix(widths[c] - 1) : cell
                let pad = String(repeating: " ", count: max(widths[c] - text.count, 0))
                return c >= 5 ? pad + text : text + pad
            }
            lines.append(cells.joined(separator: "  "))
        }
        lines.append("")
        if let before {
            lines.append(
                "before passes: nodes \(before.nodes), parameters \(grouped(before.parameters)), weights "
                    + "\(megabytes(before.weight_bytes)), MACs \(grouped(before.macs))"
            )
        }
        lines.append(
            "nodes \(summary.nodes), parameters \(grouped(summary.parameters)), weights "
                + "\(megabytes(summary.weight_bytes)), MACs \(grouped(summary.macs)), peak activations "
                + "\(megabytes(peak_activation_bytes ?? 0))"
        )
        if let passes {
            lines.append("passes: " + passes.map { "\($0.name) \($0.changes)" }.joined(separator: ", "))
            for p in passes { for note in p.notes { lines.append("  \(p.name): \(note)") } }
        }
        let ops = summary.op_counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        lines.append("ops: " + ops.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}

func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, ch) in s.reversed().enumerated() {
        if i > 0, i % 3 == 0, ch != "-" { out.append(",") }
        out.append(ch)
    }
    return String(out.reversed())
}

func megabytes(_ bytes: Int) -> String {
    let mb = Double(bytes) / 1_000_000
    return mb >= 10 ? "\(Int(mb.rounded())) MB" : "\((mb * 100).rounded() / 100) MB"
}
