"""Makes the small .tflite models of this folder (run with TensorFlow installed; the files
are committed, so the tests need only LiteRT): Keras layers the peer models lack, each
model converted float32 and full-integer int8 (float input and output).

    python tests/io/data/tflite_ops/make_models.py   # TF 2.21.0 made the committed files
"""
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).parent
K = tf.keras.layers


def ops_net() -> tf.keras.Model:
    """Asymmetric ZeroPadding2D + stride-2 conv, ReLU6, average pooling, concatenation,
    hard-swish, a constant multiply, sigmoid, GlobalAveragePooling, Dense, softmax."""
    x = tf.keras.Input((12, 12, 3), batch_size=1)
    h = K.ZeroPadding2D(((0, 1), (0, 1)))(x)
    h = K.Conv2D(8, 3, strides=2, padding="valid")(h)
    h = K.ReLU(6.0)(h)
    a = K.AveragePooling2D(2, 1, padding="valid")(h)
    b = K.MaxPooling2D(2, 1, padding="valid")(h)
    h = K.Concatenate()([a, b])
    h = K.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(h)
    h = K.Activation("hard_swish")(h)
    h = K.Lambda(lambda t: t * tf.constant(np.linspace(0.5, 1.5, 32, dtype=np.float32)))(h)
    h = K.Activation("sigmoid")(h)
    h = K.GlobalAveragePooling2D()(h)
    h = K.Dense(16, activation="relu")(h)
    y = K.Dense(5, activation="softmax")(h)
    return tf.keras.Model(x, y)


def main() -> None:
    tf.keras.utils.set_random_seed(0)
    model = ops_net()
    rng = np.random.default_rng(0)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    (HERE / "ops_net_f32.tflite").write_bytes(conv.convert())
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([rng.random((1, 12, 12, 3), dtype=np.float32)] for _ in range(32))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    (HERE / "ops_net_int8.tflite").write_bytes(conv.convert())


if __name__ == "__main__":
    main()
