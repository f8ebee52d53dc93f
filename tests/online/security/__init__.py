"""Tests of online/security/."""
