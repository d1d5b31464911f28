"""Parse phone numbers to E.164 and mask them for logs."""

from __future__ import annotations

import phonenumbers


class PhoneError(ValueError):
    """A phone number could not be read."""


def to_e164(raw: str, region: str = "US") -> str:
    """Return `raw` as E.164 (+15551234567); raise PhoneError if it is not a valid number."""
    text = (raw or "").strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise PhoneError(f"not a phone number: {mask(text)!s}") from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise PhoneError(f"not a valid phone number: {mask(text)}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_e164(raw: str | None) -> str | None:
    """Return E.164 for `raw`, or None when it cannot be read (never raises)."""
    if not raw:
        return None
    try:
        return to_e164(raw)
    except PhoneError:
        return None


def mask(phone: str | None) -> str:
    """Return a log-safe form showing only the last two digits (+*******67)."""
    if not phone:
        return "-"
    digits = [c for c in phone if c.isdigit()]
    if len(digits) <= 2:
        return "*" * len(digits)
    return "+" + "*" * (len(digits) - 2) + "".join(digits[-2:])
