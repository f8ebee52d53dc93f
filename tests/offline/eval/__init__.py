"""Tests of offline/eval/."""
