"""Bundle loading: verify the manifest's sha256s, pick an execution provider, open ORT sessions."""
