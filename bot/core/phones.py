"""Parse phone numbers to E.164 and mask them for logs."""

from __future__ import annotations

import phonenumbers

# Said with every refusal; the number itself is not repeated (messages may reach a log).
_EXAMPLE = ("write a US number with its area code, like (202) 555-0123, or another "
            "country's with + and its code, like +44 20 7946 0958")


class PhoneError(ValueError):
    """A phone number could not be read."""


def to_e164(raw: str, region: str = "US") -> str:
    """Return `raw` as E.164 (+15551234567); raise PhoneError if it is not a valid number."""
    text = (raw or "").strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise PhoneError(f"not a phone number: {_EXAMPLE}") from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        digits = sum(c.isdigit() for c in text)
        raise PhoneError(f"not a complete phone number ({digits} digit"
                         f"{'' if digits == 1 else 's'}): {_EXAMPLE}")
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
