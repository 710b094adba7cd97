"""Exports the Keras zoo that tests/io/test_onnx_keras_zoo.py runs: Keras applications and the
seed document's CNN, random weights, converted by tf2onnx, weights stripped.

TensorFlow is heavy and pins its own numpy / protobuf, so it lives in a venv of its own and is
needed only to re-run this script; the tests read the files it writes (with onnx, onnxruntime
and numpy) and never import TensorFlow:

    python -m venv /work/venv-tf
    /work/venv-tf/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx onnxruntime
    /work/venv-tf/bin/python tools/export_keras_zoo.py        # about 30 s on 2 cores

(Keras 3.15.1 came with that TensorFlow; onnxruntime is optional, for the checks below.)

For each model: fixed seeds, ``weights=None`` (nothing is downloaded), biases and BatchNorm
statistics randomized too (Keras initializes them to 0 / 1, and tf2onnx folds such identity
arithmetic away, so a fresh model would hide the Add and Mul nodes a trained one has), a
``tf.function`` with input signature ``[None, H, W, C]`` (a free batch dimension) converted by
``tf2onnx.convert.from_function`` at opset 17 (``from_keras`` fails on Keras 3 with a KeyError
on a ``keras_tensor``). The output is renamed after the Keras output layer, as the peer models in
tests/io/data/peers are. Then float initializers with more than 256 elements are emptied with a
regeneration recipe (tests/io/zoo/keras_weights.py) and the model is written to
tests/io/zoo/keras/<name>.onnx with metadata ``frugalnn.input_range`` ("lo,hi", the range of
the inputs the model expects: the applications that take [0, 255] rescale inside the graph).

tf2onnx 1.17 is not deterministic from run to run: the names it makes, and sometimes whether it
folds a Reshape's Shape -> Gather -> Slice -> Concat subgraph, change, so a re-export differs from
the committed files (initializers are renamed after their consumers to keep that small); the
tests only need some faithful conversion, and check it against onnxruntime.

With onnxruntime installed, it also checks that onnxruntime runs the unstripped conversion like
TensorFlow does and that the restored model's outputs are finite and not degenerate.
"""
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
import tf2onnx  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "io" / "zoo" / "keras"
sys.path.insert(0, str(OUT.parent))
import keras_weights  # noqa: E402

OPSET = 17
SEED = 0


def document_cnn():
    layers = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")],
        name="document_cnn")


apps = keras.applications
# name: (builder, input shape (H, W, C), input range)
MODELS = {
    "document_cnn": (document_cnn, (28, 28, 1), (0.0, 1.0)),
    "mobilenet_0.25_96": (lambda: apps.MobileNet(input_shape=(96, 96, 3), alpha=0.25, weights=None, classes=10),
                          (96, 96, 3), (-1.0, 1.0)),
    "mobilenet_v2_0.35_96": (lambda: apps.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10),
                             (96, 96, 3), (-1.0, 1.0)),
    # include_preprocessing (the default) rescales [0, 255] to [-1, 1] in the graph.
    "mobilenet_v3_small_0.75_96": (lambda: apps.MobileNetV3Small(input_shape=(96, 96, 3), alpha=0.75,
                                                                  minimalistic=False, weights=None, classes=10),
                                   (96, 96, 3), (0.0, 255.0)),
    # Rescaling(1/255) and Normalization sit in the graph: the input is [0, 255].
    "efficientnet_b0_64": (lambda: apps.EfficientNetB0(input_shape=(64, 64, 3), weights=None, classes=10),
                           (64, 64, 3), (0.0, 255.0)),
}


def randomize(model, rng):
    """Gives biases, BatchNorm statistics and the input Normalization non-trivial values (the
    kernels keep Keras' seeded initializers); variances stay positive."""
    for layer in model.layers:
        for v in layer.weights:
            shape, name = tuple(v.shape), v.name
            if isinstance(layer, keras.layers.Normalization):
                # Plausible per-channel image statistics of a [0, 1] input.
                values = {"mean": lambda: rng.uniform(0.4, 0.5, shape),
                          "variance": lambda: rng.uniform(0.05, 0.08, shape)}.get(name)
            else:
                values = {"bias": lambda: rng.normal(0, 0.1, shape), "beta": lambda: rng.normal(0, 0.1, shape),
                          "moving_mean": lambda: rng.normal(0, 0.1, shape),
                          "gamma": lambda: rng.uniform(0.5, 1.5, shape),
                          "moving_variance": lambda: rng.uniform(0.5, 1.5, shape)}.get(name)
            if values is not None:
                v.assign(values().astype(np.float32))
        if isinstance(layer, keras.layers.Normalization):
            # It computes with eager tensors made from its variables: refresh them, and make them
            # numpy so that the tf.function embeds them as constants (tf2onnx turns a captured
            # eager tensor into an extra graph input).
            layer.finalize_state()
            layer.mean, layer.variance = np.asarray(layer.mean), np.asarray(layer.variance)


def convert(model, hwc):
    spec = (tf.TensorSpec((None, *hwc), tf.float32, name="x"),)
    fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
    # tf2onnx numbers the names it makes ("Conv__270") from a process-wide counter: restart it so
    # that a model's names do not depend on which models were converted before it.
    tf2onnx.utils.INTERNAL_NAME = 1
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=OPSET)
    (out,) = proto.graph.output
    new = model.layers[-1].name
    for node in proto.graph.node:
        node.output[:] = [new if o == out.name else o for o in node.output]
    out.name = new
    return canonical_names(proto)


def canonical_names(proto):
    """Renames each initializer after its first consumer ("<its output>/in<slot>") and sorts them:
    tf2onnx merges equal constants under whichever name it meets first, which changes from run to
    run, and keras_weights seeds a tensor's regeneration from its name."""
    names = {t.name for t in proto.graph.initializer}
    new = {}
    for node in proto.graph.node:
        for slot, i in enumerate(node.input):
            if i in names and i not in new:
                new[i] = f"{node.output[0]}/in{slot}"
    for node in proto.graph.node:
        node.input[:] = [new.get(i, i) for i in node.input]
    inits = sorted(proto.graph.initializer, key=lambda t: new[t.name])
    for t in inits:
        t.name = new[t.name]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(inits)
    return proto


def check(name, model, proto, stripped, x):
    """Prints onnxruntime's error against TensorFlow on the unstripped model, and the restored
    model's output statistics; raises if the latter are non-finite or degenerate."""
    try:
        import onnxruntime as ort
    except ImportError:
        return
    import copy

    def run(p):
        sess = ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(None, {"x": x})[0]

    want = model(x, training=False).numpy()
    err = np.abs(run(proto) - want).max() / np.abs(want).max()
    got = run(keras_weights.restore(copy.deepcopy(stripped), SEED))
    logp = np.log(np.maximum(got, 1e-30))
    spread = float(np.std(logp - logp.mean(1, keepdims=True)))
    print(f"  onnxruntime vs TF {err:.1e}; restored: output range [{got.min():.3g}, {got.max():.3g}], "
          f"log-prob spread {spread:.3g}, argmax {got.argmax(1).tolist()}")
    if not np.isfinite(got).all() or spread < 0.05:
        raise SystemExit(f"{name}: degenerate restored outputs")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    names = sys.argv[1:] or list(MODELS)
    for i, name in enumerate(names):
        build, hwc, (lo, hi) = MODELS[name]
        keras.utils.set_random_seed(SEED)
        model = build()
        randomize(model, np.random.default_rng([SEED, list(MODELS).index(name)]))
        proto = convert(model, hwc)
        stripped = keras_weights.strip(type(proto).FromString(proto.SerializeToString()))
        stripped.metadata_props.add(key="frugalnn.input_range", value=f"{lo:g},{hi:g}")
        stripped.doc_string = (f"Keras {keras.__version__} {model.name}, random weights, by tf2onnx "
                               f"{tf2onnx.__version__} (TF {tf.__version__}); tools/export_keras_zoo.py")
        path = OUT / f"{name}.onnx"
        path.write_bytes(stripped.SerializeToString())
        ops = sorted({n.op_type for n in proto.graph.node})
        print(f"{name}: {path.stat().st_size} bytes, {len(keras_weights.stripped(stripped))} stripped, "
              f"{len(proto.graph.node)} nodes {ops}")
        x = np.random.default_rng(1).uniform(lo, hi, (3, *hwc)).astype(np.float32)
        check(name, model, proto, stripped, x)


if __name__ == "__main__":
    main()
