"""Small gRPC clients of the Fulcrum API for jobs and tools (retraining's ReloadModel).

Kept out of offline/ (which never imports grpc) and out of online/ (the server side)."""
