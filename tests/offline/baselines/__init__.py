"""Tests of offline/baselines/."""
