"""Tests of online/features/."""
