"""Tests of offline/tune/."""
