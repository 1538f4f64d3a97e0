extension Graph {
    /// Checks the invariants every pass and backend relies on: nodes in topological order (so no
    /// cycle), every value defined once, every input and output defined, and every stored output
    /// type equal to what shape inference computes from the inputs.
    public func validate() throws {
        var defined = Set<String>()
        for name in inputs {
            guard values[name] != nil else { throw FerccError("graph input '\(name)' has no type") }
            guard defined.insert(name).inserted else { throw FerccError("graph input '\(name)' is listed twice") }
        }
        for (name, v) in values where v.isConstant {
            guard v.constant!.count == v.type.count, v.constant!.dtype == v.type.dtype else {
                throw FerccError(
                    "constant '\(name)' holds \(v.constant!.count) \(v.constant!.dtype.rawValue) elements for \(v.type)"
                )
            }
            guard defined.insert(name).inserted else {
                throw FerccError("value '\(name)' is both a graph input and a constant")
            }
        }
        for node in nodes {
            var inTypes: [TensorType] = []
            for input in node.inputs {
                guard defined.contains(input), let t = values[input]?.type else {
                    throw FerccError(
                        node: node.name, "input '\(input)' is used before it is defined (or the graph has a cycle)")
                }
                inTypes.append(t)
            }
            let expected: [TensorType]
            do {
                expected = try ShapeInference.infer(
                    node.op, inputs: inTypes, constants: node.inputs.map { values[$0]?.constant })
            } catch let e as FerccError {
                throw e.atNode(node.name)
            }
            guard expected.count == node.outputs.count else {
                throw FerccError(
                    node: node.name, "\(node.op.name) has \(expected.count) outputs, node names \(node.outputs.count)")
            }
            for (name, t) in zip(node.outputs, expected) {
                guard defined.insert(name).inserted else {
                    throw FerccError(node: node.name, "value '\(name)' is defined twice")
                }
                guard let stored = values[name]?.type, stored.sameLayout(t) else {
                    throw FerccError(
                        node: node.name,
                        "output '\(name)' is recorded as \(values[name].map { "\($0.type)" } ?? "missing"), "
                            + "inference gives \(t)"
                    )
                }
            }
        }
        for name in outputs where !defined.contains(name) {
            throw FerccError("graph output '\(name)' is never computed")
        }
    }
}
