import Foundation

/// A face found by the detector: its box and six keypoints (right eye, left eye, nose tip, mouth,
/// right ear, left ear, as the subject sees them), in pixels of the detector's square input
/// scaled to [0, 1].
struct Detection {
    var xMin: Float, yMin: Float, xMax: Float, yMax: Float
    var score: Float
    var keypoints: [(x: Float, y: Float)]
}

/// Decoding of mediapipe's BlazeFace short-range model as its face_detection_short_range graph
/// configures it: SSD anchors (SsdAnchorsCalculator), box and score decoding
/// (TensorsToDetectionsCalculator) and weighted non-maximum suppression
/// (NonMaxSuppressionCalculator). scripts/face_decode.py is the same in Python, the reference
/// scripts/check-face-example holds this to.
enum BlazeFace {
    static let inputSize = 128
    static let strides = [8, 16, 16, 16]
    static let minScore: Float = 0.5
    static let minSuppressionIoU: Float = 0.3

    /// 896 anchor centers in [0, 1]; every anchor is 1x1 (`fixed_anchor_size`). Layers of equal
    /// stride share a grid, two anchors per layer and cell.
    static let anchors: [(x: Float, y: Float)] = {
        var result: [(x: Float, y: Float)] = []
        var layer = 0
        while layer < strides.count {
            let stride = strides[layer]
            var perCell = 0
            while layer < strides.count && strides[layer] == stride {
                perCell += 2
                layer += 1
            }
            let cells = inputSize / stride
            for y in 0..<cells {
                for x in 0..<cells {
                    let center = ((Float(x) + 0.5) / Float(cells), (Float(y) + 0.5) / Float(cells))
                    result += Array(repeating: center, count: perCell)
                }
            }
        }
        return result
    }()

    /// The faces in the model's outputs (`regressors` 896 x 16, `classificators` 896 x 1), best first.
    static func decode(regressors: [Float], classificators: [Float]) -> [Detection] {
        let size = Float(inputSize)
        var candidates: [Detection] = []
        for (i, anchor) in anchors.enumerated() {
            let logit = min(max(classificators[i], -100), 100)
            let score = 1 / (1 + exp(-logit))
            guard score >= minScore else { continue }
            let r = regressors[(i * 16)..<(i * 16 + 16)].map { $0 / size }
            let base = r.startIndex
            let cx = r[base] + anchor.x, cy = r[base + 1] + anchor.y
            let w = r[base + 2], h = r[base + 3]
            let keypoints = (0..<6).map { k in (x: r[base + 4 + 2 * k] + anchor.x, y: r[base + 5 + 2 * k] + anchor.y) }
            candidates.append(
                Detection(
                    xMin: cx - w / 2, yMin: cy - h / 2, xMax: cx + w / 2, yMax: cy + h / 2, score: score,
                    keypoints: keypoints))
        }
        return weightedNonMaxSuppression(candidates)
    }

    /// mediapipe's weighted NMS: the best remaining detection absorbs every detection that
    /// overlaps it by more than `minSuppressionIoU`, its box and keypoints becoming their
    /// score-weighted mean; its score stays.
    static func weightedNonMaxSuppression(_ detections: [Detection]) -> [Detection] {
        var remaining = detections.sorted { $0.score > $1.score }
        var kept: [Detection] = []
        while let top = remaining.first {
            var similar: [Detection] = []
            var rest: [Detection] = []
            for d in remaining {
                if iou(top, d) > minSuppressionIoU { similar.append(d) } else { rest.append(d) }
            }
            let total = similar.reduce(0) { $0 + $1.score }
            var merged = top
            merged.xMin = similar.reduce(0) { $0 + $1.score * $1.xMin } / total
            merged.yMin = similar.reduce(0) { $0 + $1.score * $1.yMin } / total
            merged.xMax = similar.reduce(0) { $0 + $1.score * $1.xMax } / total
            merged.yMax = similar.reduce(0) { $0 + $1.score * $1.yMax } / total
            for k in merged.keypoints.indices {
                merged.keypoints[k] = (
                    x: similar.reduce(0) { $0 + $1.score * $1.keypoints[k].x } / total,
                    y: similar.reduce(0) { $0 + $1.score * $1.keypoints[k].y } / total
                )
            }
            kept.append(merged)
            remaining = rest
        }
        return kept
    }

    static func iou(_ a: Detection, _ b: Detection) -> Float {
        let w = max(0, min(a.xMax, b.xMax) - max(a.xMin, b.xMin))
        let h = max(0, min(a.yMax, b.yMax) - max(a.yMin, b.yMin))
        let intersection = w * h
        let union = (a.xMax - a.xMin) * (a.yMax - a.yMin) + (b.xMax - b.xMin) * (b.yMax - b.yMin) - intersection
        return union > 0 ? intersection / union : 0
    }
}
