"""Run folder -> verified, versioned ONNX bundle (see fulcrum.core.bundle_format), plus the tiny
bundle (synthetic shop + tiny random BERT) used by tests and benchmarks."""
