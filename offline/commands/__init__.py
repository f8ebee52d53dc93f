"""CLI command modules: each one keeps heavy imports inside its command functions."""
