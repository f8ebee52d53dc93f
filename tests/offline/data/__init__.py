"""Tests of offline/data/."""
