"""Signals training sends, so other apps react without training importing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent (after the commit) when an iteration and its model file are gone; `iteration_id`.
# Prediction drops the model it may hold in memory for it.
iteration_deleted = Signal()
