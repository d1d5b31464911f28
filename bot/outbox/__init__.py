"""The durable outbox: queueing texts, and the sender that drains it (circuit, rate limit)."""
