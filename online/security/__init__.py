"""The security boundary of the server: TLS, credentials, roles and the auth interceptor."""
