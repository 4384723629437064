"""ONNX Runtime's transformer graph optimisation and the FP16 conversion.

The fusions (Attention, SkipLayerNormalization, BiasGelu) replace dozens of small nodes per
layer by one kernel each. The embedding LayerNorm fusion stays off: it does not quantize.
"""

from pathlib import Path

from ticket_classifier.errors import TicketClassifierError


def optimize_transformer(
    source: "str | Path", destination: "str | Path", *, num_heads: int, hidden_size: int, fp16: bool = False
) -> dict[str, int]:
    """Fuse the transformer graph of ``source`` (optionally converting it to FP16); returns the fused-op counts.

    FP16 keeps FP32 inputs and outputs, so the tokenizer and postprocessing need no change.
    """
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    options.enable_embed_layer_norm = False
    try:
        model = optimizer.optimize_model(
            str(source),
            model_type="bert",
            num_heads=num_heads,
            hidden_size=hidden_size,
            optimization_options=options,
            opt_level=0,
            use_gpu=False,
        )
    except Exception as exc:  # onnxruntime raises many types for graphs it cannot handle
        raise TicketClassifierError(f"graph optimisation of {source} failed: {exc}") from None
    if fp16:
        model.convert_float_to_float16(keep_io_types=True, node_block_list=detector_nodes(model.model))
    model.save_model_to_file(str(destination))
    return {name: count for name, count in model.get_fused_operator_statistics().items() if count}


# The novelty detector's constants in the exported graph (``onnx_export.CalibratedClassifier``):
# their initializer names mark its nodes, which stay in FP32 when the rest of the graph is
# quantized or converted to FP16 (squared distances need the range and precision).
DETECTOR_INITIALIZERS = ("novelty_precision_factor", "novelty_centres")


def detector_nodes(model) -> list[str]:
    """Names of the novelty detector's nodes in ``model`` (an ``onnx.ModelProto``): every node that
    consumes a detector constant, and every node downstream of those."""
    tainted = set(DETECTOR_INITIALIZERS)
    names = []
    for node in model.graph.node:  # topologically sorted
        if tainted & set(node.input):
            names.append(node.name)
            tainted.update(node.output)
    return names
