import FerccCodegen
import FerccQuantize
import Foundation

/// The convert report as a table (printed) and as one self-contained HTML page with SVG bar charts.
public enum ReportRenderer {
    public static func text(_ r: ConvertCommand.Report) -> String {
        var lines: [String] = []
        lines.append("\(r.name): \(r.nodes) ops from \(r.model), target \(r.target), weights \(r.weights)")
        lines.append(
            "weights \(megabytes(r.weight_bytes)), arena \(megabytes(r.arena_bytes)) (activations sum "
                + "\(megabytes(r.activations_sum_bytes))), scratch \(megabytes(r.scratch_bytes))"
                + ((r.kernel_bytes ?? 0) > 0 ? ", Winograd weights \(megabytes(r.kernel_bytes ?? 0))" : "")
        )
        lines.append(
            "generated source \(megabytes(r.source_bytes)) + weights source \(megabytes(r.weights_source_bytes)), "
                + "MACs \(grouped(r.macs))"
        )
        if let l = r.latency {
            lines.append(
                String(
                    format:
                        "latency: median %.3f ms (p10 %.3f, p90 %.3f) over %d runs, %.1f GFLOP/s; compiled in %.1f "
                        + "s (%@), binary %@",
                    l.median_ms, l.p10_ms, l.p90_ms, l.runs, l.gflops, l.compile_seconds,
                    l.swiftc_flags.joined(separator: " "), megabytes(l.binary_bytes)))
        }
        if let note = r.latency_note { lines.append("latency: \(note)") }
        if let times = r.latency?.layers {
            lines.append("")
            lines.append("top layers by time (instrumented build):")
            for t in times.sorted(by: { $0.ms > $1.ms }).prefix(10) {
                lines.append(
                    "  \(String(t.op.prefix(20)).padding(toLength: 20, withPad: " ", startingAt: 0)) "
                        + "\(String(format: "%8.3f ms", t.ms))  \(t.name)"
                )
            }
            var byOp: [String: Double] = [:]
            for t in times { byOp[t.op, default: 0] += t.ms }
            lines.append(
                "time per op type: "
                    + byOp.sorted { $0.value > $1.value }.map { String(format: "%@ %.2f ms", $0.key, $0.value) }.joined(
                        separator: ", "))
        }
        lines.append("")
        lines.append("top layers by MACs:")
        for layer in r.layers.sorted(by: { $0.macs > $1.macs }).prefix(10) {
            lines.append(
                "  \(String(layer.op.prefix(20)).padding(toLength: 20, withPad: " ", startingAt: 0)) "
                    + "\(grouped(layer.macs).leftPadded(14)) MACs \(megabytes(layer.weight_bytes).leftPadded(10))  "
                    + "\(layer.name)"
            )
        }
        return lines.joined(separator: "\n")
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;")
    }

    /// The quantization accuracy report as one self-contained HTML file (SQNR bars, worst first).
    public static func accuracyHTML(_ a: AccuracyReport, model: String) -> String {
        var html =
            "<!doctype html><html><head><meta charset='utf-8'><title>fercc quantize accuracy</title></head><body "
            + "style='font-family:sans-serif'>"
        html +=
            "<h1>int8 accuracy: \(escape(model))</h1><pre style='white-space: "
            + "pre-wrap'>\(escape(a.text(worst: 0)))</pre>"
        let rowH = 16, width = 900, label = 420
        let maxV = max(a.layers.map { min($0.sqnr_db, 100) }.max() ?? 1, 1)
        html += "<h2>Per-layer SQNR, int8 vs fp32 (dB, worst first; capped at 100)</h2>"
        html += "<svg xmlns='http://www.w3.org/2000/svg' width='\(width)' height='\(a.layers.count * rowH + 10)'>"
        for (i, l) in a.layers.enumerated() {
            let v = max(min(l.sqnr_db, 100), 0)
            let w = Int(Double(width - label - 80) * v / maxV)
            let name = l.node.count > 50 ? "…" + l.node.suffix(49) : l.node
            html +=
                "<text x='0' y='\(i * rowH + 12)' font-size='11' font-family='monospace'>\(escape(l.op)) "
                + "\(escape(name))</text>"
            html +=
                "<rect x='\(label)' y='\(i * rowH + 2)' width='\(max(w, 1))' height='\(rowH - 4)' "
                + "fill='\(l.sqnr_db < 20 ? "#d04a4a" : "#4a7bd0")'/>"
            html +=
                "<text x='\(label + w + 4)' y='\(i * rowH + 12)' font-size='11' "
                + "font-family='monospace'>\(String(format: "%.1f", l.sqnr_db))</text>"
        }
        return html + "</svg></body></html>\n"
    }

    public static func html(_ r: ConvertCommand.Report) -> String {
        func bars(_ title: String, _ values: [(String, Double)], unit: String) -> String {
            let maxV = max(values.map(\.1).max() ?? 1, 1e-12)
            let rowH = 16, width = 900, label = 320
            var svg =
                "<h2>\(escape(title))</h2><svg xmlns='http://www.w3.org/2000/svg' width='\(width)' "
                + "height='\(values.count * rowH + 10)'>"
            for (i, (name, v)) in values.enumerated() {
                let w = Int(Double(width - label - 120) * v / maxV)
                svg += "<text x='0' y='\(i * rowH + 12)' font-size='11' font-family='monospace'>\(escape(name))</text>"
                svg +=
                    "<rect x='\(label)' y='\(i * rowH + 2)' width='\(max(w, 1))' height='\(rowH - 4)' fill='#4a7bd0'/>"
                svg +=
                    "<text x='\(label + w + 4)' y='\(i * rowH + 12)' font-size='11' "
                    + "font-family='monospace'>\(String(format: "%.3g", v)) \(unit)</text>"
            }
            return svg + "</svg>"
        }
        var html =
            "<!doctype html><html><head><meta charset='utf-8'><title>\(escape(r.name)) - fercc "
            + "report</title></head><body style='font-family:sans-serif'>"
        // Bar labels keep the index and op whole and shorten the layer name from the front.
        func label(_ index: Int, _ op: String, _ name: String) -> String {
            let room = max(44 - op.count - String(index).count - 2, 8)
            let short = name.count > room ? "…" + name.suffix(room - 1) : name
            return "\(index) \(op) \(short)"
        }
        html += "<h1>\(escape(r.name))</h1><pre style='white-space: pre-wrap'>\(escape(text(r)))</pre>"
        html += bars(
            "Weights per layer",
            r.layers.filter { $0.weight_bytes > 0 }.map {
                (label($0.index, $0.op, $0.name), Double($0.weight_bytes) / 1e3)
            }, unit: "KB")
        html += bars(
            "MACs per layer",
            r.layers.filter { $0.macs > 0 }.map { (label($0.index, $0.op, $0.name), Double($0.macs) / 1e6) }, unit: "M")
        if let times = r.latency?.layers {
            html += bars(
                "Time per layer (instrumented build)", times.map { (label($0.index, $0.op, $0.name), $0.ms) },
                unit: "ms")
        }
        return html + "</body></html>\n"
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
