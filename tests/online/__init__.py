"""Tests of online/."""
