"""Shared infrastructure: config, database, clock, services, logging, phones, durations."""
