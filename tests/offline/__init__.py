"""Tests of offline/."""
