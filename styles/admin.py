"""Staff edit styles here; each save goes through the services (validated, recorded)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from geoplatform.admin import ReadOnlyAdmin

from . import services
from .errors import InvalidStyle
from .models import Style, StyleRevision


class StyleForm(forms.ModelForm):  # type: ignore[type-arg]
    # Not the model field: the services move the default (the one-default constraint would
    # refuse the form's instance before they run).
    make_default = forms.BooleanField(required=False, label="Default style of the collection")

    class Meta:
        model = Style
        fields = ["collection_id", "style_id", "cartosym"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["make_default"].initial = self.instance.is_default

    def clean_cartosym(self) -> Any:
        doc = self.cleaned_data["cartosym"]
        try:
            return services.style_check(doc)
        except InvalidStyle as exc:
            raise forms.ValidationError(exc.message) from None
        except Exception as exc:  # an Untranslatable rule
            raise forms.ValidationError(str(exc)) from None


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = StyleForm
    list_display = [
        "collection_id",
        "style_id",
        "title",
        "is_default",
        "generated",
        "version",
        "updated_at",
        "updated_by",
    ]
    list_filter = ["is_default", "generated"]
    search_fields = ["collection_id", "style_id", "title"]

    def get_readonly_fields(self, request: HttpRequest, obj: Style | None = None) -> list[str]:
        return ["collection_id", "style_id"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Style, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            services.style_replace(
                collection_id=obj.collection_id,
                style_id=obj.style_id,
                doc=data["cartosym"],
                user=request.user,
                default=data["make_default"],
            )
        else:
            obj.pk = services.style_create(
                collection_id=data["collection_id"],
                style_id=data["style_id"],
                doc=data["cartosym"],
                user=request.user,
                default=data["make_default"],
            ).pk  # the admin's log and redirect name the row the service made

    def delete_model(self, request: HttpRequest, obj: Style) -> None:
        services.style_delete(collection_id=obj.collection_id, style_id=obj.style_id, user=request.user)


@admin.register(StyleRevision)
class StyleRevisionAdmin(ReadOnlyAdmin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["collection_id", "style_id", "version", "action", "changed_by", "changed_at"]
    list_filter = ["action"]
    search_fields = ["collection_id", "style_id"]
