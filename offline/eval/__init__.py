"""Offline evaluation: pure metric functions, the OR-temporal protocol and a model-agnostic harness."""
