"""Names and descriptions people type, checked the same way everywhere they are stored.

A value over its limit is refused with the limit, never cut short without a word, and no
stored text may hold a NUL character (PostgreSQL can't store one; SQLite would, and the two
would disagree).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

DESCRIPTION_MAX = 4000  # project and tag descriptions


@dataclass(frozen=True)
class TextRule:
    """How one kind of typed text is checked: `what` names it in the refusal, which goes
    under `field` when given, with Azure's `code`."""

    what: str
    max_length: int
    field: str = ""
    code: str | None = None
    required: bool = False
    one_line: bool = False  # runs of white space (a newline included) become one space

    def checked(self, value: str) -> str:
        """`value` stripped (and collapsed when `one_line`), or a ValidationError."""
        cleaned = " ".join(value.split()) if self.one_line else value.strip()
        what, max_length = self.what, self.max_length
        problem = ""
        if self.required and not cleaned:
            problem = f"Give the {what.lower()}."
        elif "\x00" in cleaned:
            problem = f"{what} can't contain a NUL character."
        elif len(cleaned) > max_length:
            problem = f"{what} is at most {max_length:,} characters; this one has {len(cleaned):,}."
        if problem:
            error = ValidationError(problem, code=self.code)
            raise ValidationError({self.field: error}) if self.field else error
        return cleaned


DESCRIPTION = TextRule(what="A description", max_length=DESCRIPTION_MAX, field="description")


def description_checked(description: str) -> str:
    """A project's or a tag's description."""
    return DESCRIPTION.checked(description)


def counted(count: int, noun: str, plural: str = "") -> str:
    """`count` and its noun, singular or plural as English has it: "1 image", "70 images"
    (never "image(s)"). `plural` for a noun that doesn't just take an "s"."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
