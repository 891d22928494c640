"""A half-precision copy of an exported float32 ONNX model (onnx only, no torch).

Weights, constants and arithmetic become float16; the model's inputs and outputs stay float32 (a Cast
at each end), so callers feed and read the same arrays as with the float32 file. Half the file size
for downloads (a browser demo) and fp16 arithmetic on GPUs; onnxruntime's CPU provider runs what it has
no fp16 kernel for in float32.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _half(t: TensorProto) -> TensorProto:
    return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name)


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float16 copy of a float32 model with float32 inputs and outputs."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(_half(t))
    for node in g.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(_half(a.t))
            if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
    casts_in, casts_out = [], []
    for inp in g.input:
        if inp.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = inp.name + "__fp16"
        for node in g.node:
            node.input[:] = [half if x == inp.name else x for x in node.input]
        casts_in.append(helper.make_node("Cast", [inp.name], [half], to=TensorProto.FLOAT16))
    for out in g.output:
        if out.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = out.name + "__fp16"
        for node in g.node:
            node.output[:] = [half if x == out.name else x for x in node.output]
            node.input[:] = [half if x == out.name else x for x in node.input]
        casts_out.append(helper.make_node("Cast", [half], [out.name], to=TensorProto.FLOAT))
    nodes = [*casts_in, *g.node, *casts_out]
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]  # stale float32 types; shape inference rebuilds what it needs
    return m
