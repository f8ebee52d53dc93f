"""Tests of offline/report/."""
