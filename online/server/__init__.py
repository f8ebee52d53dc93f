"""The gRPC server: factory, servicer, request pipelines, interceptors, error mapping."""
