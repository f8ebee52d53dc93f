"""Tests of core/bundle/."""
