"""Mail delivery: the sender task that sends the outbox over SMTP (the texts are in
resolvers/i18n.py, queued by resolvers/outbox.py)."""
