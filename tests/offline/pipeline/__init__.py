"""Tests of offline/pipeline/."""
