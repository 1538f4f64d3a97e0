"""BlazeFace short-range decoding as mediapipe's face_detection_short_range graph configures it
(SsdAnchorsCalculator, TensorsToDetectionsCalculator, weighted NonMaxSuppressionCalculator): the
reference that fixtures/generate_real.py and scripts/check-face-example hold the Swift example to."""
import numpy as np

SIZE = 128
STRIDES = [8, 16, 16, 16]
MIN_SCORE = 0.5
IOU = 0.3


def anchors():
    """896 (cx, cy) anchor centers in [0, 1]; every anchor is 1x1 (fixed_anchor_size)."""
    out = []
    layer = 0
    while layer < len(STRIDES):
        stride, per_cell = STRIDES[layer], 0
        while layer < len(STRIDES) and STRIDES[layer] == stride:
            per_cell += 2  # aspect ratio 1.0 and the interpolated scale
            layer += 1
        cells = SIZE // stride
        for y in range(cells):
            for x in range(cells):
                out += [((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell
    return np.array(out, np.float32)


def letterbox_transform(width, height):
    scale = SIZE / max(width, height)
    nw, nh = round(width * scale), round(height * scale)
    return scale, (SIZE - nw) // 2, (SIZE - nh) // 2


def decode_detections(regressors, scores, width, height):
    """Faces in pixels of an image letterboxed as fixtures/generate_real.py does, best first:
    [(x, y, w, h, score, [(kx, ky) * 6])]."""
    scale, ox, oy = letterbox_transform(width, height)
    return in_pixels(decode(regressors, scores), SIZE / scale, ox / scale, oy / scale)


def in_pixels(faces, side, pad_x, pad_y):
    """Normalized faces in pixels of an image padded by (pad_x, pad_y) into a square of `side`."""
    result = []
    for score, (x0, y0, x1, y1), kp in faces:
        to_x = lambda v: v * side - pad_x
        to_y = lambda v: v * side - pad_y
        result.append((to_x(x0), to_y(y0), to_x(x1) - to_x(x0), to_y(y1) - to_y(y0), float(score),
                       [(to_x(kx), to_y(ky)) for kx, ky in kp]))
    return result


def decode(regressors, scores):
    """Faces in the detector's input scaled to [0, 1], best first: [(score, [x0, y0, x1, y1], kp[6, 2])]."""
    a = anchors()
    s = 1.0 / (1.0 + np.exp(-np.clip(scores.astype(np.float64), -100, 100)))
    keep = np.nonzero(s >= MIN_SCORE)[0]
    boxes = []
    for i in keep:
        r = regressors[i].astype(np.float64)
        cx, cy = r[0] / SIZE + a[i, 0], r[1] / SIZE + a[i, 1]
        w, h = r[2] / SIZE, r[3] / SIZE
        kp = [(r[4 + 2 * k] / SIZE + a[i, 0], r[5 + 2 * k] / SIZE + a[i, 1]) for k in range(6)]
        boxes.append((s[i], np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]), np.array(kp)))
    boxes.sort(key=lambda b: -b[0])
    faces = []
    while boxes:
        top = boxes[0]
        similar, rest = [], []
        for b in boxes:
            (similar if iou(top[1], b[1]) > IOU else rest).append(b)
        weights = np.array([b[0] for b in similar])
        box = sum(w * b[1] for w, b in zip(weights, similar)) / weights.sum()
        kp = sum(w * b[2] for w, b in zip(weights, similar)) / weights.sum()
        faces.append((top[0], box, kp))
        boxes = rest
    return faces


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
