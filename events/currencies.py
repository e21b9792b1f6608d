"""ISO 4217 currency codes, for an event's `valueCurrency` (Klaviyo's `value_currency`).

From pycountry (pinned): its ISO 4217 table is Debian's iso-codes, kept up to date with the
standard's amendments, so a code retired or added is one upgrade away, not a list of ours to
keep. XXX ("no currency") and XTS (reserved for testing) are codes but not money.
"""

import pycountry

NOT_MONEY = frozenset({"XXX", "XTS"})
CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies) - NOT_MONEY


def is_currency_code(value: object) -> bool:
    """Whether `value` is a currency's ISO 4217 code, exactly (three capital letters)."""
    return isinstance(value, str) and value in CURRENCY_CODES
