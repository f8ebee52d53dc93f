"""Tests of offline/export/."""
