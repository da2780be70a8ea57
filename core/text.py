"""Names and descriptions people type, checked the same way everywhere they are stored.

A value over its limit is refused with the limit, never cut short without a word, and no
stored text may hold a NUL character (PostgreSQL can't store one; SQLite would, and the two
would disagree).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

DESCRIPTION_MAX = 4000  # project and tag descriptions


def text_checked(
    value: str,
    *,
    what: str,
    max_length: int,
    field: str = "",
    code: str | None = None,
    required: bool = False,
    one_line: bool = False,
) -> str:
    """`value` stripped (and with runs of white space collapsed when `one_line`), or a
    ValidationError naming `what` (under `field` when given, with Azure's `code`)."""
    cleaned = " ".join(value.split()) if one_line else value.strip()
    problem = ""
    if required and not cleaned:
        problem = f"Give the {what.lower()}."
    elif "\x00" in cleaned:
        problem = f"{what} can't contain a NUL character."
    elif len(cleaned) > max_length:
        problem = f"{what} is at most {max_length:,} characters; this one has {len(cleaned):,}."
    if problem:
        error = ValidationError(problem, code=code)
        raise ValidationError({field: error}) if field else error
    return cleaned


def description_checked(description: str) -> str:
    """A project's or a tag's description."""
    return text_checked(
        description, what="A description", max_length=DESCRIPTION_MAX, field="description"
    )
