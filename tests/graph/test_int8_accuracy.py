"""int8 accuracy on trained models (see trained.py for why not random weights): top-1
agreement with f32 on held-out digits and on random images, per-layer SQNR reported."""
import numpy as np
import pytest

from frugalnn import reference
from frugalnn.graph import Session, compile

from .trained import TRAIN, digits28, trained

# SQNR floors (dB): measured minus 8 dB (noise power x6.3; the torch training behind these
# weights may drift a little across versions and CPUs). Measured: output on held-out / noisy
# digits / random images mnist_cnn 43.9 / 43.8 / 35.8, mlp 49.5 / 48.2 / 41.3; one int8 layer
# at a time, the rest f32, on held-out digits: mnist_cnn conv1 56.0, conv2 54.4, fc1 56.6,
# fc2 46.6; mlp fc1 54.8, fc2 56.9, fc3 53.7.
OUTPUT_SQNR_FLOOR = {
    "mnist_cnn": {"held-out digits": 35, "noisy digits": 35, "random images": 27},
    "mlp": {"held-out digits": 41, "noisy digits": 40, "random images": 33},
}
LAYER_SQNR_FLOOR = {
    "mnist_cnn": {"conv1": 48, "conv2": 46, "fc1": 48, "fc2": 38},
    "mlp": {"fc1": 46, "fc2": 48, "fc3": 45},
}


def sqnr_db(ref, got):
    err = np.sum((ref.astype(np.float64) - got) ** 2)
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(err, 1e-30))


@pytest.mark.parametrize("name", ["mnist_cnn", "mlp"])
def test_int8_top1_agreement_on_trained_models(name, capsys):
    g = trained(name)
    x, y = digits28()
    calib, held = x[:64], x[TRAIN:]
    # Random inputs in the data's range, and noisy digits.
    rng = np.random.default_rng(7)
    noisy = np.clip(held + rng.normal(0, 0.2, held.shape), 0, 1).astype(np.float32)
    rand = rng.random((512,) + held.shape[1:], dtype=np.float32)
    program = compile(g, precision="int8", calibration=calib)
    s = Session(program, max_batch=512)
    lines = []
    for label, data in [("held-out digits", held), ("noisy digits", noisy), ("random images", rand)]:
        ref = reference.forward(g, data)["y"]
        got = s.run(data)
        agree = np.mean(got.argmax(1) == ref.argmax(1))
        sqnr = sqnr_db(ref, got)
        lines.append(f"{label}: agreement {agree:.4f}, output SQNR {sqnr:.1f} dB")
        assert agree >= 0.99, (label, agree)
        assert sqnr >= OUTPUT_SQNR_FLOOR[name][label], (label, sqnr)
    ref = reference.forward(g, held)["y"]
    acc_f32 = np.mean(ref.argmax(1) == y[TRAIN:])
    acc_int8 = np.mean(s.run(held).argmax(1) == y[TRAIN:])
    assert acc_f32 > 0.9  # the model did learn
    assert acc_int8 >= acc_f32 - 0.01
    per_layer = {}
    for layer in program.quantization:
        one = Session(compile(g, precision={layer: "int8"}, calibration=calib), max_batch=512)
        per_layer[layer] = sqnr_db(ref, one.run(held))
    with capsys.disabled():
        print(f"\n{name} int8 (trained on digits): accuracy f32 {acc_f32:.4f} int8 {acc_int8:.4f}; "
              + "; ".join(lines) + "; SQNR with one int8 layer: "
              + ", ".join(f"{k} {v:.1f} dB" for k, v in per_layer.items()))
    assert set(per_layer) == set(LAYER_SQNR_FLOOR[name])
    assert all(v >= LAYER_SQNR_FLOOR[name][k] for k, v in per_layer.items()), per_layer
