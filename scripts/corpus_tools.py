"""What the corpus scripts (conformance, codegen-conformance, bench, pass-report) share:
reading .npy files, building fercc, walking a corpus's model folders. Standard library only."""
import json, os, struct, subprocess, sys

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
