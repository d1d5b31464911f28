"""Turning the pure engine's outcomes into database rows and queued texts."""
