"""Security tooling of the application layer: `fulcrum security dev-setup` and friends."""
