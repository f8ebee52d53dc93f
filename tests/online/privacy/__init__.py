"""Tests of online/privacy/."""
