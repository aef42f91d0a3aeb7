"""process_vector's column_map: source columns renamed (or dropped) while loading, so two
releases of a source that renamed its fields load into one schema (managed WDPA handler)."""

from __future__ import annotations

from typing import Any

import pytest

from features import sql
from features.models import VectorDataset
from tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db

NE = FIXTURES / "managed" / "ne_110m_admin_0_countries.zip"


def test_columns_renamed_and_dropped_while_loading(put_file: Any, submit_inline: Any) -> None:
    name = put_file("features-tests/ne.zip", NE.read_bytes())
    job = submit_inline(
        file_name=name,
        table_name="ne_mapped",
        column_map={"ADMIN": "Country Name", "featurecla": "", "NAME": "name_en"},
    )
    assert job.status == "completed", job.error
    columns = [c for c, _ in sql.table_columns("ne_mapped")]
    assert columns[3:] == ["country_name", "name_en", "iso_a3", "continent", "pop_est"]
    assert [a["source_name"] for a in VectorDataset.objects.get(pk="ne_mapped").attributes][:2] == ["ADMIN", "NAME"]
    # a renamed column is no "sanitised name" warning
    assert not any("COLUMN_NAMES_SANITISED" in w and "ADMIN" in w for w in job.warnings)


def test_a_column_map_that_is_not_a_mapping_is_refused(put_file: Any, submit_inline: Any) -> None:
    from geoplatform.errors import InvalidInput

    name = put_file("features-tests/ne.zip", NE.read_bytes())
    with pytest.raises(InvalidInput) as caught:
        submit_inline(file_name=name, table_name="ne_bad", column_map={"ADMIN": 3})
    assert "column_map" in str(caught.value.details) + caught.value.message
    assert not sql.table_exists("ne_bad")
