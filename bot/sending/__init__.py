"""The outbox sender: drains queued texts through the SMS transport (circuit, rate limit)."""
