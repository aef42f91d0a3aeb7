"""CMIP6 file names: facets, near misses with the expected pattern, gaps and overlaps."""

from __future__ import annotations

import pytest

from climate import cmip6


@pytest.mark.parametrize(
    ("name", "facets", "time_range"),
    [
        (
            "tas_Amon_CESM2_historical_r1i1p1f1_gn_185001-201412.nc",
            ("tas", "Amon", "CESM2", "historical"),
            ("185001", "201412"),
        ),
        (
            "pr_day_MPI-ESM1-2-HR_ssp585_r2i1p1f1_gn_20150101-20191231.nc",
            ("pr", "day", "MPI-ESM1-2-HR", "ssp585"),
            ("20150101", "20191231"),
        ),
        (
            "tas_3hr_M_exp_r1i1p1f2_gr_201501010000-201501012100.nc",
            ("tas", "3hr", "M", "exp"),
            ("201501010000", "201501012100"),
        ),
        (
            "ta_6hrLev_M_exp_r1i1p1f1_gn_20150101000000-20150101180000.nc",
            ("ta", "6hrLev", "M", "exp"),
            ("20150101000000", "20150101180000"),
        ),
        ("tas_Ayr_HadCM3_sresa1b_r1i1p1f1_gn_1860-1869.nc", ("tas", "Ayr", "HadCM3", "sresa1b"), ("1860", "1869")),
        (
            "tas_Amon_M_dcppA-hindcast_s1960-r1i1p1f1_gn_196101-197012.nc",
            ("tas", "Amon", "M", "dcppA-hindcast"),
            ("196101", "197012"),
        ),
        (
            "tas_Amon_M_historical_r1i1p1f1_gn_185001-201412-clim.nc",
            ("tas", "Amon", "M", "historical"),
            ("185001", "201412"),
        ),
        ("areacella_fx_CESM2_historical_r1i1p1f1_gn.nc", ("areacella", "fx", "CESM2", "historical"), (None, None)),
    ],
)
def test_names_parse_into_facets(name: str, facets: tuple[str, ...], time_range: tuple[str | None, str | None]) -> None:
    parsed = cmip6.parse(f"some/prefix/{name}")
    assert parsed is not None
    assert (parsed.variable_id, parsed.table_id, parsed.source_id, parsed.experiment_id) == facets
    assert (parsed.start, parsed.end) == time_range
    assert parsed.facets()["cmip6:variable_id"] == facets[0]


def test_member_with_sub_experiment_and_indexes() -> None:
    parsed = cmip6.parse("tas_Amon_M_dcppA-hindcast_s1960-r3i2p1f4_gn_196101-197012.nc")
    assert parsed is not None
    assert parsed.sub_experiment_id == "s1960" and parsed.variant_label == "r3i2p1f4"
    assert parsed.member_id == "s1960-r3i2p1f4"
    facets = parsed.facets()
    assert facets["cmip6:sub_experiment_id"] == "s1960"
    assert (facets["cmip6:realization_index"], facets["cmip6:initialization_index"]) == (3, 2)
    assert facets["cmip6:forcing_index"] == 4
    assert parsed.series_id == "tas_Amon_M_dcppA-hindcast_s1960-r3i2p1f4_gn"


def test_climatology_flag() -> None:
    parsed = cmip6.parse("tas_Amon_M_historical_r1i1p1f1_gn_185001-201412-clim.nc")
    assert parsed is not None and parsed.climatology


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("tas_Amon_CESM2_historical_r1i1p1_gn_185001-201412.nc", "member"),
        ("tas_Amon_CESM2_historical_r1i1p1f1_xx_185001-201412.nc", "grid label"),
        ("tas_Amon_CESM2_historical_r1i1p1f1_gn_185001-20141.nc", "time range"),
        ("tas_Amon_CESM2_historical_r1i1p1f1_gn_1850-201412.nc", "time range"),
        ("tas_Amon_CESM2_r1i1p1f1_gn_185001-201412.nc", "member"),
    ],
)
def test_near_misses_show_the_expected_pattern(name: str, why: str) -> None:
    assert cmip6.parse(name) is None
    message = cmip6.near_miss(name)
    assert message is not None and why in message and "<variable_id>_<table_id>_<source_id>" in message


def test_other_names_are_neither() -> None:
    assert cmip6.parse("A1B_north_america.nc") is None
    assert cmip6.near_miss("A1B_north_america.nc") is None
    assert cmip6.parse("tas_Amon_CESM2_historical_r1i1p1f1_gn_185001-201412.zarr") is None


def test_gaps_and_overlaps() -> None:
    base = "tas_Amon_M_e_r1i1p1f1_gn_{}.nc"
    names = [base.format(r) for r in ("185001-185912", "186001-186912", "187101-187912", "187906-188912")]
    issues = cmip6.time_issues(names)
    assert len(issues) == 2
    assert issues[0].startswith("gap") and "187101" in issues[0] and "187001" in issues[0]
    assert issues[1].startswith("overlap") and "187906" in issues[1]
    assert cmip6.time_issues([base.format("1860-1869"), base.format("1870-1879")]) == []
    daily = [base.format("20000101-20001230"), base.format("20010101-20011230")]
    assert cmip6.time_issues(daily) == []  # 360_day year ends on the 30th of December


def test_item_facets_only_when_shared() -> None:
    a = "tas_Amon_M_e_r1i1p1f1_gn_185001-185912.nc"
    assert cmip6.item_facets([a])["cmip6:source_id"] == "M"
    assert cmip6.item_facets([a, "other.nc"]) == {}
