from __future__ import annotations

import uuid
from typing import Any

from django import forms

from projects.forms import resources_offered
from projects.models import Project, Resource, Tag
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


class _ResourceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)  # every choice is a prediction resource: the kind says nothing

    def to_python(self, value: Any) -> Any:
        # A malformed id is just another wrong choice: say the same, not "not a valid UUID".
        try:
            return super().to_python(value)
        except forms.ValidationError:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            ) from None


class PublishForm(forms.Form):
    publish_name = forms.CharField(
        max_length=200,
        label="Model name",
        error_messages={"required": "Give the published iteration a name."},
    )
    prediction_resource = _ResourceChoiceField(
        queryset=Resource.objects.none(),
        label="Prediction resource",
        required=False,
        empty_label="Create a new prediction resource",
        error_messages={"invalid_choice": "Choose one of your prediction resources."},
    )
    new_resource_name = forms.CharField(
        max_length=64,
        required=False,
        label="New prediction resource name",
        help_text="Its keys are shown once, after publishing.",
    )

    def __init__(self, *args: Any, owner: Any, suggested_name: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        resources_offered(self, "prediction_resource", user=owner, kind=Resource.Kind.PREDICTION)
        self.fields["new_resource_name"].initial = suggested_name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            not data.get("prediction_resource")
            and not (data.get("new_resource_name") or "").strip()
        ):
            raise forms.ValidationError("Choose a prediction resource or name a new one.")
        return data
