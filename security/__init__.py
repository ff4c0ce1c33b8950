"""Cryptography the services share: password hashing."""
