"""YAML conversation flows: model, loader, validator, pure engine, replies, safety, store."""
