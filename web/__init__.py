"""The HTTP edge: middleware and endpoints around the GraphQL app."""
