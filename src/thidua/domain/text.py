"""Text as the people who use the product write it: Vietnamese, stored in NFC."""

import unicodedata
from typing import Any


def nfc(text: str) -> str:
    """The NFC form, so 'Hà Nội' typed with combining marks equals the precomposed one."""
    return unicodedata.normalize("NFC", text)


def nfc_deep(value: Any) -> Any:
    """Every string inside dicts, lists and tuples in NFC; other values unchanged."""
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, dict):
        return {nfc_deep(k): nfc_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nfc_deep(v) for v in value]
    if isinstance(value, tuple):
        return tuple(nfc_deep(v) for v in value)
    return value
