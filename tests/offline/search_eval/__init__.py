"""Tests of offline/search_eval/."""
