"""Image metadata as Custom Vision keeps it: up to 10 string pairs per image, and the `$filter`
expressions (`key eq 'value' and other ne 'x'`) that select images by them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact, IsNull

from core.codes import AzureCode

MAX_PAIRS = 10  # per image: the SDK's ImageFileCreateBatch.metadata documents these three
MAX_KEY = 128
MAX_VALUE = 256


def metadata_clean(value: Any) -> dict[str, str]:
    """A metadata object as given by a client, checked: string keys and values within Azure's
    lengths, at most MAX_PAIRS of them."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(
            "metadata is an object of strings.", code=AzureCode.BAD_REQUEST_INVALID
        )
    if len(value) > MAX_PAIRS:
        raise ValidationError(
            f"At most {MAX_PAIRS} metadata pairs per image.",
            code=AzureCode.BAD_REQUEST_IMAGE_METADATA_KEY,
        )
    clean = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY or "\x00" in key:
            raise ValidationError(
                f"A metadata key is 1 to {MAX_KEY} characters.",
                code=AzureCode.BAD_REQUEST_IMAGE_METADATA_KEY,
            )
        if not isinstance(item, str) or len(item) > MAX_VALUE or "\x00" in item:
            raise ValidationError(
                f"The value of {key!r} is a string of at most {MAX_VALUE} characters.",
                code=AzureCode.BAD_REQUEST_IMAGE_METADATA_VALUE,
            )
        clean[key] = item
    return clean


# --- $filter --------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|'(?P<string>(?:[^']|'')*)'|(?P<word>[^\s()']+))"
)


class _Parser:
    """`or` of `and`s of `key eq|ne 'value'` comparisons, with parentheses (OData's subset
    that Custom Vision documents for `$filter`)."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise self._error(f"cannot read {text[position : position + 20]!r}")
            kind = match.lastgroup or ""
            value = match.group(kind)
            self.tokens.append((kind, value.replace("''", "'") if kind == "string" else value))
            position = match.end()
        self.index = 0

    @staticmethod
    def _error(why: str) -> ValidationError:
        return ValidationError(
            f"$filter: {why}. Write e.g. key1 eq 'value1' and key2 ne 'value2'.",
            code=AzureCode.BAD_REQUEST_INVALID,
        )

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise self._error("the expression ends too soon")
        self.index += 1
        return token

    def _keyword(self, *words: str) -> str | None:
        token = self._peek()
        if token and token[0] == "word" and token[1].lower() in words:
            self.index += 1
            return token[1].lower()
        return None

    def parse(self) -> Q:
        if not self.tokens:
            raise self._error("the expression is empty")
        where = self._or()
        if self._peek() is not None:
            raise self._error(f"unexpected {self._peek()[1]!r}")  # type: ignore[index]
        return where

    def _or(self) -> Q:
        where = self._and()
        while self._keyword("or"):
            where |= self._and()
        return where

    def _and(self) -> Q:
        where = self._comparison()
        while self._keyword("and"):
            where &= self._comparison()
        return where

    def _comparison(self) -> Q:
        kind, value = self._take()
        if kind == "open":
            where = self._or()
            if self._take()[0] != "close":
                raise self._error("a parenthesis is not closed")
            return where
        if kind != "word":
            raise self._error(f"expected a metadata key, found {value!r}")
        key = value.removeprefix("metadata/")
        operator = self._keyword("eq", "ne")
        if operator is None:
            raise self._error(f"expected eq or ne after {key!r}")
        kind, literal = self._take()
        if kind != "string":
            raise self._error(f"the value compared with {key!r} goes in single quotes")
        found = KeyTextTransform(key, "metadata")
        equal = Q(Exact(found, literal))
        # An image without the key is "not equal" to any value.
        return equal if operator == "eq" else Q(IsNull(found, True)) | ~equal


def metadata_filter(expression: str) -> Q:
    """The images an Azure `$filter` expression keeps, as a Q over Image.metadata."""
    # The SDK's own docstring writes its example as "metadata=key1 eq 'value1' …".
    text = re.sub(r"^\s*metadata\s*=", "", expression)
    return _Parser(text).parse()
