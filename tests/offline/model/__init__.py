"""Tests of offline/model/."""
