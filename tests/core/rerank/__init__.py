"""Tests of core/rerank/."""
