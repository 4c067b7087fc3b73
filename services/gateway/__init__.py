"""The gateway: the staff HTTP API (FastAPI). It holds no domain state: every command and
query goes to the owning service over NATS request/reply."""
