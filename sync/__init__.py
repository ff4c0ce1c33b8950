"""Keeping the install base current: change lines from files (`server.py sync`)
and from NATS JetStream (`server.py consume`), applied by db/sync.py."""
