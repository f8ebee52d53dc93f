"""Tests of online/server/."""
