"""Tests of online/bundle/."""
