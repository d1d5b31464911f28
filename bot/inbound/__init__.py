"""The inbound pipeline: store, dedupe, screen, then route a text (consent, coach, flows)."""
