"""The realism scorecard reads the pooled tables and says which targets each model meets."""

import pandas as pd
import pytest

from seeds_dag.verification.targets import (
    choose_generator,
    format_scorecard,
    realism_scorecard,
    realism_share,
)

PHYSICS = "physics-31"


def tables(power_gee: float, variance_gee: float, correlation_gap: float, coherence_gap: float,
           meridional_gap: float = 0.0):
    power = pd.DataFrame({"model": ["gee-32"] * 2 + ["gpp-32"] * 2, "variable": "z500", "lead_time_days": 1.0,
                          "wavenumber": [1, 15] * 2, "power_ratio": [1.0, power_gee, 1.0, 1.1]})
    calibration = pd.DataFrame({"model": ["gee-32", "gee-32", "gpp-32"], "variable": "z500", "lead_time_days": 1.0,
                                "band": ["all", "16+", "all"], "variance_ratio": [variance_gee, 50.0, 1.0]})
    correlation = pd.DataFrame({PHYSICS: [-0.6, 0.5], "gee-32": [-0.6 + correlation_gap, 0.5],
                                f"gee-32 - {PHYSICS}": [correlation_gap, 0.0], f"gpp-32 - {PHYSICS}": [0.0, 0.01]})
    coherence = pd.DataFrame({f"gee-32 - {PHYSICS}": [coherence_gap, 0.0], f"gpp-32 - {PHYSICS}": [0.0, 0.0]})
    meridional = pd.DataFrame({f"gee-32 - {PHYSICS}": [0.0, meridional_gap],
                               f"gpp-32 - {PHYSICS}": [0.01, 0.0]})
    return dict(power_ratios=power, calibration=calibration, variable_correlation=correlation,
                coherence=coherence, meridional=meridional)


def test_each_target_is_met_only_when_every_value_is_within_its_bounds():
    card = realism_scorecard(["gee-32", "gpp-32"], PHYSICS,
                             **tables(3.0, 0.85, 0.2, -0.06, -0.3)).set_index(["model", "target"])
    gee = card.loc["gee-32"]
    assert not gee["met"].any()
    assert gee.loc["zonal power / physics, k 1-15", "highest"] == pytest.approx(3.0)
    # Only all scales together count for the variance target: the 16+ band's 50 is not read.
    assert gee.loc["variance about seeds / physics", "highest"] == pytest.approx(0.85)
    # Striped members: every other target met, the latitude-to-latitude coherence 0.3 below physics'.
    assert gee.loc["latitude-to-latitude coherence - physics", "lowest"] == pytest.approx(-0.3)
    assert card.loc["gpp-32", "met"].all()
    good = realism_scorecard(["gee-32"], PHYSICS, **tables(1.2, 1.05, 0.09, 0.04, -0.04))
    assert good["met"].all() and len(good) == 5
    striped = realism_scorecard(["gee-32"], PHYSICS, **tables(1.2, 1.05, 0.09, 0.04, -0.06))
    assert striped["met"].tolist() == [True, True, True, True, False]


def test_a_missing_table_leaves_its_target_out_and_the_text_names_misses():
    given = tables(3.0, 1.0, 0.0, 0.0)
    given.pop("coherence")
    card = realism_scorecard(["gee-32"], PHYSICS, **given)
    assert len(card) == 4 and "lead-to-lead" not in " ".join(card["target"])
    text = format_scorecard(card, PHYSICS)
    assert "MISSED" in text and "0.8 .. 1.25" in text


def test_the_rule_puts_realism_first_then_skill_then_cost_then_graded_realism():
    candidates = pd.DataFrame({"generator": ["edm", "crps", "consistency"], "nfe": [16, 1, 1],
                               "targets_met": [4, 4, 2], "realism_share": [1.0, 1.0, 0.8],
                               "perfect_model_crps": [1.00, 1.009, 0.95]})
    # consistency scores best but misses two realism targets; crps is within 1 % of edm and cheaper.
    assert choose_generator(candidates)["generator"] == "crps"
    candidates.loc[1, "perfect_model_crps"] = 1.02
    assert choose_generator(candidates)["generator"] == "edm"
    candidates["targets_met"] = [2, 3, 1]
    assert choose_generator(candidates)["generator"] == "crps"
    # No target met by any, all within 1 % and one pass: the larger share within bounds, not the
    # lower CRPS, decides; at equal shares the lower CRPS.
    tied = pd.DataFrame({"generator": ["a", "b", "c"], "nfe": [1, 1, 1], "targets_met": [0, 0, 0],
                         "realism_share": [0.60, 0.66, 0.66], "perfect_model_crps": [1.034, 1.037, 1.036]})
    assert choose_generator(tied)["generator"] == "c"
    tied.loc[2, "realism_share"] = 0.55
    assert choose_generator(tied)["generator"] == "b"


def test_the_share_within_bounds_grades_a_missed_target():
    card = realism_scorecard(["gee-32"], PHYSICS, **tables(1.2, 1.05, 0.2, 0.04, -0.06)).set_index("target")
    assert card.loc["cross-variable correlation - physics", "within"] == pytest.approx(0.5)
    assert card.loc["latitude-to-latitude coherence - physics", "within"] == pytest.approx(0.5)
    assert card.loc["lead-to-lead coherence - physics", "within"] == 1.0
    assert realism_share(card.reset_index(), "gee-32") == pytest.approx(card["within"].mean())
