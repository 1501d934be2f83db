"""The settings form of the model card: lists typed one name per line or separated by commas."""

from django import forms


def _names(text: str) -> list[str]:
    return [name.strip() for line in text.splitlines() for name in line.split(",") if name.strip()]


class PredictSettingsForm(forms.Form):
    excluded_fields = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Fields the model must not read, one per line; patterns such as custom.asymmetrique_* allowed.",
    )
    positive_stages = forms.CharField(help_text="Stages that count as converted, comma-separated.")
    negative_stages = forms.CharField(help_text="Stages that count as not converted, comma-separated.")
    open_negative_after_days = forms.IntegerField(
        required=False, min_value=1, help_text="Count people still open this many days after creation as not converted."
    )
    min_outcomes_per_class = forms.IntegerField(min_value=20, help_text="Fewest people of each outcome to train on.")
    cv_folds = forms.IntegerField(min_value=2, max_value=20)

    @classmethod
    def for_settings(cls, saved):
        return cls(
            initial={
                "excluded_fields": "\n".join(saved.excluded_fields),
                "positive_stages": ", ".join(saved.positive_stages),
                "negative_stages": ", ".join(saved.negative_stages),
                "open_negative_after_days": saved.open_negative_after_days,
                "min_outcomes_per_class": saved.min_outcomes_per_class,
                "cv_folds": saved.cv_folds,
            }
        )

    def changes(self) -> dict:
        data = self.cleaned_data
        return {
            "excluded_fields": _names(data["excluded_fields"]),
            "positive_stages": _names(data["positive_stages"]),
            "negative_stages": _names(data["negative_stages"]),
            "open_negative_after_days": data["open_negative_after_days"],
            "min_outcomes_per_class": data["min_outcomes_per_class"],
            "cv_folds": data["cv_folds"],
        }
