"""Mail: templates, the transactional outbox writer and the sender task."""
