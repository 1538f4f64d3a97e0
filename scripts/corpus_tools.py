"""What the corpus scripts (conformance, codegen-conformance, bench, ab, pass-report) share:
reading .npy files, building fercc, walking a corpus's model folders, compiling generated code
into a timing harness. Standard library only."""
import json, os, re, struct, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_npy(path):
    """(shape, values) of a little-endian float32 or int8 .npy file."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:6] != b"\x93NUMPY":
        raise ValueError(f"{path}: not a .npy file")
    if b[6] == 1:
        hlen, start = struct.unpack("<H", b[8:10])[0], 10
    else:
        hlen, start = struct.unpack("<I", b[8:12])[0], 12
    header = eval(b[start:start + hlen].decode("latin1"))  # the header is a Python literal dict
    data = b[start + hlen:]
    if header["descr"] in ("|i1", "<i1"):
        return list(header["shape"]), struct.unpack(f"<{len(data)}b", data)
    if header["descr"] not in ("<f4", "|f4", "=f4"):
        raise ValueError(f"{path}: dtype {header['descr']}, expected <f4")
    return list(header["shape"]), struct.unpack(f"<{len(data) // 4}f", data)


def write_npy(path, shape, rng):
    """A float32 .npy of standard normal values (standard library only)."""
    n = 1
    for d in shape:
        n *= d
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join(f"{d}, " for d in shape)
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack(f"<{n}f", *(rng.gauss(0, 1) for _ in range(n))))


def fercc_binary(given=None):
    """`given`, or fercc built in release mode from this checkout (with this CPU's fast paths)."""
    if given:
        return given
    subprocess.run([os.path.join(ROOT, "scripts", "build"), "--product", "fercc"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return os.path.join(ROOT, ".build", "release", "fercc")


def corpus_models(corpus):
    """(model folder name, manifest) for every folder of `corpus` with a manifest.json, sorted."""
    for model_dir in sorted(os.listdir(corpus)):
        manifest = os.path.join(corpus, model_dir, "manifest.json")
        if os.path.isfile(manifest):
            with open(manifest) as f:
                yield model_dir, json.load(f)


VENV = os.path.join(ROOT, ".bench-venv")


def ensure_venv():
    """The Python of the benchmark venv (.bench-venv: numpy, onnxruntime, onnx for its quantizer,
    ai-edge-litert, openvino; pinned), created on first use."""
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    # Also when an earlier install was interrupted: the venv exists without its packages.
    if subprocess.run([py, "-c", "import numpy, onnx, onnxruntime, ai_edge_litert, openvino"], capture_output=True).returncode != 0:
        subprocess.run([py, "-m", "pip", "install", "-q", "numpy==2.4.6", "onnx==1.23.2", "onnxruntime==1.32.0",
                        "ai-edge-litert==2.3.0", "openvino==2026.4.1"], check=True)
    return py


HARNESS = r'''
import Foundation
let model = MAKE_MODEL
var input = [Float](repeating: 0, count: Model.inputShape.reduce(1, *))
var state: UInt64 = 12345
for i in input.indices {
    state = state &* 6364136223846793005 &+ 1442695040888963407
    input[i] = Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
}
let outputs = OUTPUT_SHAPES.map { UnsafeMutablePointer<Float>.allocate(capacity: $0.reduce(1, *)) }
input.withUnsafeBufferPointer { i in
    for _ in 0..<10 { model.predict(i.baseAddress!, PREDICT_ARGUMENTS) }
    var times: [Double] = []
    let end = ContinuousClock.now + .seconds(2)
    while times.count < 60 || (ContinuousClock.now < end && times.count < 3000) {
        let t0 = ContinuousClock.now
        model.predict(i.baseAddress!, PREDICT_ARGUMENTS)
        let d = ContinuousClock.now - t0
        times.append(Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
    }
    times.sort()
    // FNV-1a over every output's bits: two builds computed the same when their digests are equal.
    var digest: UInt64 = 14695981039346656037
    for (o, shape) in zip(outputs, OUTPUT_SHAPES) {
        for k in 0..<shape.reduce(1, *) { digest = (digest ^ UInt64(o[k].bitPattern)) &* 1099511628211 }
    }
    print("{\"median\": \(times[times.count / 2]), \"digest\": \"\(String(digest, radix: 16))\"}")
}
'''


def fercc_runner(cmd, out, work, layers):
    """Runs a fercc convert/quantize command line (output in `out`), compiles its generated class
    into a timing harness with the flags its report states; returns (binary, report) or None.
    The harness runs `predict` on a fixed pseudo-random input for about 2 s (at least 60 calls)
    and prints {"median": ms per call, "digest": FNV-1a of every output's bits}."""
    r = subprocess.run(cmd + ["-o", out, "--name", "Model"] + ([] if layers else ["--no-bench"]), capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{' '.join(os.path.basename(c) for c in cmd[:3])}: {r.stderr.strip()}", file=sys.stderr)
        return None
    report = json.load(open(os.path.join(out, "report.json")))
    flags = ["-O", "-wmo"] + report["swiftc_flags"]
    weights = os.path.join(out, "Model.weights")
    make = ('Model(weights: [UInt8](try! Data(contentsOf: URL(fileURLWithPath: "%s"))))!' % weights) if os.path.exists(weights) else "Model()!"
    main_dir = os.path.join(work, os.path.basename(out) + "-main")
    os.makedirs(main_dir)
    # One output: predict(_:into:); several: predict(_:name1:name2:...) with Model.outputShapes.
    source = open(os.path.join(out, "Model.swift")).read()
    signature = re.search(r"public func predict\(_ input: UnsafePointer<Float>, ([^)]*)\)", source)
    if signature is None:
        print(f"{out}: no single-input predict(_:into:) in the generated class; not timed", file=sys.stderr)
        return None
    labels = signature.group(1)
    labels = [a.split(":")[0].strip() for a in labels.split(",")]
    shapes = "[Model.outputShape]" if labels == ["into output"] else "Model.outputShapes"
    arguments = ", ".join(f"{l.split()[0]}: outputs[{k}]" for k, l in enumerate(labels))
    open(os.path.join(main_dir, "main.swift"), "w").write(
        HARNESS.replace("MAKE_MODEL", make).replace("OUTPUT_SHAPES", shapes).replace("PREDICT_ARGUMENTS", arguments))
    sources = [os.path.join(out, f) for f in ("Model.swift", "Model+Weights.swift") if os.path.exists(os.path.join(out, f))]
    binary = os.path.join(work, os.path.basename(out) + "-bench")
    c = subprocess.run(["swiftc"] + flags + sources + [os.path.join(main_dir, "main.swift"), "-o", binary], capture_output=True, text=True)
    if c.returncode != 0:
        print(f"{out}: the generated code does not compile: {c.stderr.strip()[:300]}", file=sys.stderr)
        return None
    return binary, report
