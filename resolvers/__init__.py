"""What each query and mutation does: business rules, loaders, permissions."""
