"""Tests of offline/search_log/."""
