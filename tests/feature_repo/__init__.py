"""Tests of feature_repo/."""
