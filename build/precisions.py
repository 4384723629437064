"""What ``ticket-classifier export`` writes: its precisions and INT8 schemes (standard library only, so
that the command line lists them without importing the export stack)."""

PRECISIONS = ("fp32", "fp16", "int8")
INT8_SCHEMES = ("dynamic", "sensitivity")  # how INT8 is quantized (build/quantization.py)
# What export uses unless told otherwise, chosen on the IT-tickets benchmark model
# (docs/benchmarks.md, "INT8 schemes").
DEFAULT_INT8_SCHEME = "sensitivity"
