"""Build: ONNX export and the Triton model repository (generated config.pbtxt, Python models)."""
