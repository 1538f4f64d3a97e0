import FerccIR

/// Removes nodes whose outputs nobody reads, and unused constants.
struct EliminateDeadCode: GraphPass {
    let name = "eliminate-dead-code"

    func run(_ graph: inout Graph, notes: inout [String]) throws -> Int {
        let before = graph.nodes.count
        graph.removeDeadCode()
        return before - graph.nodes.count
    }
}
