"""The bundle reader both sides use: manifest checks, ONNX sessions, the catalogue and its indexes."""
