"""Inference: the live item catalogue, ONNX encoders and dynamic micro-batching."""
