"""The durable outbox: queueing texts, cancelling unsent ones, delivery statuses."""
