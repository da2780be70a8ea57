from __future__ import annotations

from typing import Any

from django import forms

from projects.models import Project, Tag
from training.models import Iteration


class IterationChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        published = f" (published as {obj.publish_name})" if obj.publish_name else ""
        return f"{obj.name}{published}"


class QuickTestForm(forms.Form):
    iteration = IterationChoice(queryset=Iteration.objects.none(), empty_label=None)
    image = forms.ImageField(required=False, label="Browse local files")
    url = forms.URLField(required=False, label="Image URL", assume_scheme="https", max_length=2048)
    store = forms.BooleanField(
        required=False,
        initial=True,  # Azure's Quick Test stores too (its API's `store` defaults to true)
        label="Save the image in Predictions",
        help_text="Kept images can be tagged there and moved into the training images. "
        "Untick to test without keeping the image.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["iteration"]
        assert isinstance(field, IterationChoice)
        field.queryset = Iteration.objects.filter(
            project=project, status=Iteration.Status.COMPLETED
        ).order_by("-trained_at")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("image")) == bool(data.get("url")):
            raise forms.ValidationError("Choose an image file or give an image URL (one of them).")
        return data


class PredictionFilterForm(forms.Form):
    iteration = IterationChoice(
        queryset=Iteration.objects.none(), required=False, empty_label="All iterations"
    )
    tag = forms.ModelChoiceField(queryset=Tag.objects.none(), required=False, empty_label="Any tag")
    minimum = forms.IntegerField(
        required=False, min_value=0, max_value=100, label="Probability from (%)"
    )
    maximum = forms.IntegerField(required=False, min_value=0, max_value=100, label="to (%)")

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        iteration = self.fields["iteration"]
        tag = self.fields["tag"]
        assert isinstance(iteration, IterationChoice)
        assert isinstance(tag, forms.ModelChoiceField)
        iteration.queryset = Iteration.objects.filter(project=project).exclude(
            status__in=Iteration.ACTIVE
        )
        tag.queryset = Tag.objects.filter(project=project).order_by("name")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        low, high = data.get("minimum"), data.get("maximum")
        if low is not None and high is not None and low > high:
            raise forms.ValidationError("The lower probability is above the upper one.")
        return data
