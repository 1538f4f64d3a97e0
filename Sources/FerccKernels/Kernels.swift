/// fercc's numeric kernels, fp32 and int8, in the Swift standard library only. Every kernel
/// file is an extension of this namespace, so that generated code carries the files it needs
/// verbatim inside a namespace of its own model (two models can live in one module).
public enum Kernels {}
