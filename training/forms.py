from __future__ import annotations

import uuid
from typing import Any

from django import forms

from projects.models import Project, Tag
from training.models import Iteration


class TrainForm(forms.Form):
    training_type = forms.ChoiceField(
        choices=Iteration.TrainingType.choices,
        initial=Iteration.TrainingType.REGULAR,
        widget=forms.RadioSelect,
        label="Training type",
    )
    reserved_budget_hours = forms.FloatField(
        min_value=0.01,
        max_value=96,
        initial=1,
        required=False,
        label="Training budget (hours)",
        help_text="Advanced training fine-tunes the network until the budget is spent or it "
        "stops improving.",
    )
    tags = forms.TypedMultipleChoiceField(
        coerce=uuid.UUID,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Tags to train",
        help_text="Leave all unchecked to train every tag.",
    )
    force = forms.BooleanField(required=False, label="Train even if nothing changed")

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tags"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = [(str(t.id), t.name) for t in Tag.objects.filter(project=project)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("training_type") == Iteration.TrainingType.ADVANCED and not data.get(
            "reserved_budget_hours"
        ):
            self.add_error("reserved_budget_hours", "Give advanced training a budget.")
        return data


class RenameForm(forms.Form):
    name = forms.CharField(max_length=200)
