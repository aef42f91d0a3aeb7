"""The admin's review confirmation forms."""

from __future__ import annotations

from django import forms

from .models import ClearanceState


class ApproveForm(forms.Form):
    clearance_state = forms.ChoiceField(
        choices=[(ClearanceState.OUO, "OUO (official use only)"), (ClearanceState.PUBLIC, "Public")],
        widget=forms.RadioSelect,
        help_text="Public releases are also copied to the external zone.",
    )
    version_id = forms.CharField(max_length=50, required=False, help_text="Leave empty for the default v{ordinal}.")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True, help_text="Required.")
