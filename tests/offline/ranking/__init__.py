"""Tests of offline/ranking/."""
