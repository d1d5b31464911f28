"""HTTP endpoints Twilio and operators call: the SMS webhook, status callbacks, health, metrics."""
