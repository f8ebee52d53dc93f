"""Offline jobs that chain the components: retraining (train on the offline store including
ingested events -> evaluate on the validation slice -> promote only if at least as good)."""
