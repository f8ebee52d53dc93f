"""Tests of core/search/."""
