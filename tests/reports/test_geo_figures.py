"""The report's per-geo section (``reports/geo_figures.py``): present only where a run has
per-geo estimands, after the national headline, and its numbers are the table's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmm_workbench.reports.geo_figures import geo_section, geo_summary, geo_table

CHANNELS = ("tv", "search")
GEOS = ("geo_01", "geo_02", "geo_03")


def _estimands(per_geo: bool = True) -> pd.DataFrame:
    """Two replicates of one cell: national ROAS 10% high, each geo's ROAS g * 10% low."""
    rows = []
    for replicate in (0, 1):
        for c, channel in enumerate(CHANNELS):
            truth = 1.0 + c
            rows.append(
                {"estimand": "roas", "family": "derived", "geo": np.nan, "channel": channel,
                 "truth": truth, "mean": truth * 1.1, "covered_90": True, "replicate": replicate}
            )  # fmt: skip
            for g, geo in enumerate(GEOS if per_geo else ()):
                for estimand in ("geo_roas", "geo_contribution_share"):
                    rows.append(
                        {"estimand": estimand, "family": "geo", "geo": geo, "channel": channel,
                         "truth": truth, "mean": truth * (1 - 0.1 * (g + 1)),
                         "covered_90": g == 0, "replicate": replicate}
                    )  # fmt: skip
    frame = pd.DataFrame(rows)
    return frame.assign(cell="c1", cell_label="base")


def test_no_per_geo_estimands_no_section() -> None:
    assert geo_section(_estimands(per_geo=False), {}) == []
    assert geo_section(_estimands().drop(columns="geo"), {}) == []


def test_summary_is_the_mean_relative_bias_and_coverage_per_geo() -> None:
    summary = geo_summary(geo_table(_estimands()))
    geo = summary[(summary["estimand"] == "geo_roas") & (summary["channel"] == "tv")]
    np.testing.assert_allclose(geo["rel_bias"], [-0.1, -0.2, -0.3])
    np.testing.assert_allclose(geo["coverage_90"], [1.0, 0.0, 0.0])
    national = summary[(summary["estimand"] == "roas") & (summary["channel"] == "tv")]
    np.testing.assert_allclose(national["rel_bias"], [0.1])


def test_section_has_a_faceted_figure_and_the_table() -> None:
    (section,) = geo_section(_estimands(), {"tv": "#0173b2", "search": "#de8f05"})
    assert section.title == "Per geo"
    ((png, caption),) = section.figures
    assert png.startswith(b"\x89PNG") and "per-geo truth" in caption
    ((table, _),) = section.tables
    row = table[(table["channel"] == "tv") & (table["estimand"] == "geo_roas")].iloc[0]
    assert row["median |bias| over geos"] == "20.0%"
    assert row["largest |bias|"] == "30.0%"
    assert row["90% covered, geos"] == "33%"
    assert row["national bias"] == "+10.0%"


def test_per_geo_estimands_are_their_own_family_which_no_default_rule_judges() -> None:
    """A ``geo`` dimension makes the family ``geo`` (whatever the name); every default rule
    that judges estimands names its families or its estimand, and none names ``geo``: the
    per-geo coordinates neither add checks to the verdict nor tighten its Bonferroni level."""
    from mmm_workbench.reports.aggregate import FIT_METRICS
    from mmm_workbench.reports.ruleset import load_rules
    from mmm_workbench.reports.tables import GEO_FAMILY, estimand_family

    assert estimand_family("geo_roas", ("geo", "channel")) == GEO_FAMILY
    assert estimand_family("roas", ("channel",)) == "derived"
    for rule in load_rules().rules:
        assert GEO_FAMILY not in rule.family
        assert rule.family or rule.estimand != "*" or rule.metric in FIT_METRICS, rule
