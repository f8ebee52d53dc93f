"""Small gRPC clients of the Fulcrum API: ``FulcrumClient`` (recommender.py) with default
deadlines, retries through a service config (service_config.py) and typed errors (errors.py),
and ``reload_servers`` (reload.py) for retraining's ReloadModel on every replica.

Kept out of offline/ (which never imports grpc) and out of online/ (the server side). Import
the modules directly (``from fulcrum.client.recommender import FulcrumClient``)."""
