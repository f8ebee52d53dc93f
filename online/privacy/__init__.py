"""Privacy: erasing a user (`fulcrum forget`, the ForgetUser RPC)."""
