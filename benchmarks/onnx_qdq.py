"""onnxruntime's static QDQ quantization of a float ONNX model, for benchmarks that compare
frugalnn's int8 run of a quantized file with onnxruntime's run of the same file."""
import os
import tempfile


def quantize_qdq(model: bytes, calibration, input_name: str = "x", **options) -> bytes:
    """The QDQ int8 model (per channel) calibrated on ``calibration``, one sample per batch;
    ``options`` go to quantize_static (activation_type, weight_type, ...)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{input_name: calibration[i:i + 1]} for i in range(len(calibration))])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "f32.onnx"), os.path.join(d, "int8.onnx")
        with open(src, "wb") as f:
            f.write(model)
        quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True, **options)
        with open(dst, "rb") as f:
            return f.read()
