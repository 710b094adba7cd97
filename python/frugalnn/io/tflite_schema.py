"""The parts of LiteRT's (TensorFlow Lite's) flatbuffer schema that load_tflite reads:
field ids of the tables, and the enums (builtin operators, tensor types, activations).

Values are those of tensorflow/compiler/mlir/lite/schema/schema.fbs (schema version 3,
file identifier "TFL3"). A field's id is its position in the table's declaration; the
vtable slot of field ``id`` is at byte ``4 + 2 * id``.
"""
from __future__ import annotations

import numpy as np

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3


class Model:
    VERSION, OPERATOR_CODES, SUBGRAPHS, DESCRIPTION, BUFFERS = 0, 1, 2, 3, 4
    SIGNATURE_DEFS, EXTERNAL_BUFFER_GROUPS, EXTERNAL_BUFFERS = 7, 8, 9


class OperatorCode:
    DEPRECATED_BUILTIN_CODE, CUSTOM_CODE, VERSION, BUILTIN_CODE = 0, 1, 2, 3


class SubGraph:
    TENSORS, INPUTS, OUTPUTS, OPERATORS, NAME = 0, 1, 2, 3, 4


class Tensor:
    SHAPE, TYPE, BUFFER, NAME, QUANTIZATION, IS_VARIABLE, SPARSITY, SHAPE_SIGNATURE = 0, 1, 2, 3, 4, 5, 6, 7
    EXTERNAL_BUFFER = 10


class Quantization:
    MIN, MAX, SCALE, ZERO_POINT, DETAILS_TYPE, DETAILS, QUANTIZED_DIMENSION = 0, 1, 2, 3, 4, 5, 6


class Operator:
    OPCODE_INDEX, INPUTS, OUTPUTS, BUILTIN_OPTIONS_TYPE, BUILTIN_OPTIONS = 0, 1, 2, 3, 4
    CUSTOM_OPTIONS, INTERMEDIATES = 5, 8
    LARGE_CUSTOM_OPTIONS_OFFSET, BUILTIN_OPTIONS_2_TYPE = 9, 11


class Buffer:
    DATA, OFFSET, SIZE = 0, 1, 2


# Builtin options tables: union type id, then {field name: (field id, struct format, default)}.
# Formats are struct codes: b int8, B uint8 / bool, i int32, f float32.
OPTIONS = {
    "Conv2DOptions": (1, {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                          "activation": (3, "b", 0), "dilation_w": (4, "i", 1), "dilation_h": (5, "i", 1)}),
    "DepthwiseConv2DOptions": (2, {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                                   "depth_multiplier": (3, "i", 0), "activation": (4, "b", 0),
                                   "dilation_w": (5, "i", 1), "dilation_h": (6, "i", 1)}),
    "Pool2DOptions": (5, {"padding": (0, "b", 0), "stride_w": (1, "i", 0), "stride_h": (2, "i", 0),
                          "filter_w": (3, "i", 0), "filter_h": (4, "i", 0), "activation": (5, "b", 0)}),
    "FullyConnectedOptions": (8, {"activation": (0, "b", 0), "weights_format": (1, "b", 0),
                                  "keep_num_dims": (2, "B", 0), "asymmetric_quantize_inputs": (3, "B", 0)}),
    "SoftmaxOptions": (9, {"beta": (0, "f", 0.0)}),
    "ConcatenationOptions": (10, {"axis": (0, "i", 0), "activation": (1, "b", 0)}),
    "AddOptions": (11, {"activation": (0, "b", 0)}),
    "ReshapeOptions": (17, {}),  # new_shape (a vector) is read by the RESHAPE handler
    "MulOptions": (21, {"activation": (0, "b", 0)}),
    "PadOptions": (22, {}),
    "ReducerOptions": (27, {"keep_dims": (0, "B", 0)}),
    "StridedSliceOptions": (32, {"begin_mask": (0, "i", 0), "end_mask": (1, "i", 0), "ellipsis_mask": (2, "i", 0),
                                 "new_axis_mask": (3, "i", 0), "shrink_axis_mask": (4, "i", 0),
                                 "offset": (5, "B", 0)}),
    "DequantizeOptions": (38, {}),
    "ShapeOptions": (55, {"out_type": (0, "b", 2)}),
    "PackOptions": (59, {"values_count": (0, "i", 0), "axis": (1, "i", 0)}),
    "QuantizeOptions": (89, {}),
    "HardSwishOptions": (91, {}),
}
RESHAPE_NEW_SHAPE = 0  # ReshapeOptions.new_shape

PADDING = {0: "SAME", 1: "VALID"}
ACTIVATIONS = {0: None, 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}

# TensorType -> (name, numpy dtype or None when load_tflite never reads such data)
TENSOR_TYPES = {
    0: ("FLOAT32", np.dtype("<f4")), 1: ("FLOAT16", np.dtype("<f2")), 2: ("INT32", np.dtype("<i4")),
    3: ("UINT8", np.dtype("u1")), 4: ("INT64", np.dtype("<i8")), 5: ("STRING", None), 6: ("BOOL", np.dtype("u1")),
    7: ("INT16", np.dtype("<i2")), 8: ("COMPLEX64", None), 9: ("INT8", np.dtype("i1")),
    10: ("FLOAT64", np.dtype("<f8")), 11: ("COMPLEX128", None), 12: ("UINT64", None), 13: ("RESOURCE", None),
    14: ("VARIANT", None), 15: ("UINT32", None), 16: ("UINT16", None), 17: ("INT4", None), 18: ("BFLOAT16", None),
    19: ("INT2", None), 20: ("UINT4", None), 21: ("FLOAT8_E4M3FN", None), 22: ("FLOAT8_E5M2", None),
}

# BuiltinOperator, by code (0 .. 209). Codes below 127 may also come as the deprecated byte.
BUILTIN_OPS = (
    'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'DEPTH_TO_SPACE',
    'DEQUANTIZE', 'EMBEDDING_LOOKUP', 'FLOOR', 'FULLY_CONNECTED', 'HASHTABLE_LOOKUP',
    'L2_NORMALIZATION', 'L2_POOL_2D', 'LOCAL_RESPONSE_NORMALIZATION', 'LOGISTIC', 'LSH_PROJECTION',
    'LSTM', 'MAX_POOL_2D', 'MUL', 'RELU', 'RELU_N1_TO_1', 'RELU6', 'RESHAPE', 'RESIZE_BILINEAR',
    'RNN', 'SOFTMAX', 'SPACE_TO_DEPTH', 'SVDF', 'TANH', 'CONCAT_EMBEDDINGS', 'SKIP_GRAM', 'CALL',
    'CUSTOM', 'EMBEDDING_LOOKUP_SPARSE', 'PAD', 'UNIDIRECTIONAL_SEQUENCE_RNN', 'GATHER',
    'BATCH_TO_SPACE_ND', 'SPACE_TO_BATCH_ND', 'TRANSPOSE', 'MEAN', 'SUB', 'DIV', 'SQUEEZE',
    'UNIDIRECTIONAL_SEQUENCE_LSTM', 'STRIDED_SLICE', 'BIDIRECTIONAL_SEQUENCE_RNN', 'EXP', 'TOPK_V2',
    'SPLIT', 'LOG_SOFTMAX', 'DELEGATE', 'BIDIRECTIONAL_SEQUENCE_LSTM', 'CAST', 'PRELU', 'MAXIMUM',
    'ARG_MAX', 'MINIMUM', 'LESS', 'NEG', 'PADV2', 'GREATER', 'GREATER_EQUAL', 'LESS_EQUAL',
    'SELECT', 'SLICE', 'SIN', 'TRANSPOSE_CONV', 'SPARSE_TO_DENSE', 'TILE', 'EXPAND_DIMS', 'EQUAL',
    'NOT_EQUAL', 'LOG', 'SUM', 'SQRT', 'RSQRT', 'SHAPE', 'POW', 'ARG_MIN', 'FAKE_QUANT',
    'REDUCE_PROD', 'REDUCE_MAX', 'PACK', 'LOGICAL_OR', 'ONE_HOT', 'LOGICAL_AND', 'LOGICAL_NOT',
    'UNPACK', 'REDUCE_MIN', 'FLOOR_DIV', 'REDUCE_ANY', 'SQUARE', 'ZEROS_LIKE', 'FILL', 'FLOOR_MOD',
    'RANGE', 'RESIZE_NEAREST_NEIGHBOR', 'LEAKY_RELU', 'SQUARED_DIFFERENCE', 'MIRROR_PAD', 'ABS',
    'SPLIT_V', 'UNIQUE', 'CEIL', 'REVERSE_V2', 'ADD_N', 'GATHER_ND', 'COS', 'WHERE', 'RANK', 'ELU',
    'REVERSE_SEQUENCE', 'MATRIX_DIAG', 'QUANTIZE', 'MATRIX_SET_DIAG', 'ROUND', 'HARD_SWISH', 'IF',
    'WHILE', 'NON_MAX_SUPPRESSION_V4', 'NON_MAX_SUPPRESSION_V5', 'SCATTER_ND', 'SELECT_V2',
    'DENSIFY', 'SEGMENT_SUM', 'BATCH_MATMUL', 'PLACEHOLDER_FOR_GREATER_OP_CODES', 'CUMSUM',
    'CALL_ONCE', 'BROADCAST_TO', 'RFFT2D', 'CONV_3D', 'IMAG', 'REAL', 'COMPLEX_ABS', 'HASHTABLE',
    'HASHTABLE_FIND', 'HASHTABLE_IMPORT', 'HASHTABLE_SIZE', 'REDUCE_ALL', 'CONV_3D_TRANSPOSE',
    'VAR_HANDLE', 'READ_VARIABLE', 'ASSIGN_VARIABLE', 'BROADCAST_ARGS', 'RANDOM_STANDARD_NORMAL',
    'BUCKETIZE', 'RANDOM_UNIFORM', 'MULTINOMIAL', 'GELU', 'DYNAMIC_UPDATE_SLICE', 'RELU_0_TO_1',
    'UNSORTED_SEGMENT_PROD', 'UNSORTED_SEGMENT_MAX', 'UNSORTED_SEGMENT_SUM', 'ATAN2',
    'UNSORTED_SEGMENT_MIN', 'SIGN', 'BITCAST', 'BITWISE_XOR', 'RIGHT_SHIFT', 'STABLEHLO_LOGISTIC',
    'STABLEHLO_ADD', 'STABLEHLO_DIVIDE', 'STABLEHLO_MULTIPLY', 'STABLEHLO_MAXIMUM',
    'STABLEHLO_RESHAPE', 'STABLEHLO_CLAMP', 'STABLEHLO_CONCATENATE', 'STABLEHLO_BROADCAST_IN_DIM',
    'STABLEHLO_CONVOLUTION', 'STABLEHLO_SLICE', 'STABLEHLO_CUSTOM_CALL', 'STABLEHLO_REDUCE',
    'STABLEHLO_ABS', 'STABLEHLO_AND', 'STABLEHLO_COSINE', 'STABLEHLO_EXPONENTIAL',
    'STABLEHLO_FLOOR', 'STABLEHLO_LOG', 'STABLEHLO_MINIMUM', 'STABLEHLO_NEGATE', 'STABLEHLO_OR',
    'STABLEHLO_POWER', 'STABLEHLO_REMAINDER', 'STABLEHLO_RSQRT', 'STABLEHLO_SELECT',
    'STABLEHLO_SUBTRACT', 'STABLEHLO_TANH', 'STABLEHLO_SCATTER', 'STABLEHLO_COMPARE',
    'STABLEHLO_CONVERT', 'STABLEHLO_DYNAMIC_SLICE', 'STABLEHLO_DYNAMIC_UPDATE_SLICE',
    'STABLEHLO_PAD', 'STABLEHLO_IOTA', 'STABLEHLO_DOT_GENERAL', 'STABLEHLO_REDUCE_WINDOW',
    'STABLEHLO_SORT', 'STABLEHLO_WHILE', 'STABLEHLO_GATHER', 'STABLEHLO_TRANSPOSE', 'DILATE',
    'STABLEHLO_RNG_BIT_GENERATOR', 'REDUCE_WINDOW', 'STABLEHLO_COMPOSITE', 'STABLEHLO_SHIFT_LEFT',
    'STABLEHLO_CBRT', 'STABLEHLO_CASE',
)
PLACEHOLDER_FOR_GREATER_OP_CODES = 127  # deprecated_builtin_code's sign: read builtin_code instead


def op_name(code: int) -> str:
    """The builtin operator's name, or a label for a code this schema does not know."""
    return BUILTIN_OPS[code] if 0 <= code < len(BUILTIN_OPS) else f"builtin operator {code} (unknown)"
