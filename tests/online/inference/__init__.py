"""Tests of online/inference/."""
