"""Tests of online/ingest/."""
