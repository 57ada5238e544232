"""Figures are valid PNGs of a readable size, drawn from the long tables whatever models they hold,
and refuse tables that lack what a figure needs, naming it."""

import io

import matplotlib.image
import numpy as np
import pytest
import report_tables as synthetic

from seeds_dag.report import figures, multivariate_figures, panels, perfect_model_figures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LEAD = synthetic.LEADS[1]


def decoded(png: bytes) -> np.ndarray:
    """The image as (height, width, channels), after checking the PNG signature."""
    assert png[:8] == PNG_SIGNATURE
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def assert_readable(png: bytes) -> np.ndarray:
    image = decoded(png)
    height, width = image.shape[:2]
    # ~1000 px wide at DPI 100: wide enough for five panels, not a poster.
    assert 800 <= width <= 1400 and 300 <= height <= 1200, (width, height)
    # Something is drawn: not one flat colour.
    assert image[..., :3].std() > 0.05
    return image


FIGURES = {
    "crps": lambda models: figures.lead_time_scores(synthetic.summary(models), "crps",
                                                    dashed="crps_standard"),
    "spread_skill": lambda models: figures.lead_time_scores(synthetic.summary(models),
                                                            "spread_skill"),
    "ranks": lambda models: figures.rank_histograms(synthetic.ranks(models), LEAD),
    "reliability": lambda models: figures.reliability_diagram(synthetic.reliability(models),
                                                             0.99, LEAD),
    "bias": lambda models: figures.bias_maps(synthetic.bias_maps(models), LEAD),
    "spectra": lambda models: figures.zonal_spectra(synthetic.spectra(models), LEAD),
    "power_ratio": lambda models: figures.power_ratio(synthetic.power_ratios(models), LEAD),
    "coherence": lambda models: figures.coherence_by_lead_pair(synthetic.coherence(models)),
    "meridional": lambda models: figures.lead_time_scores(synthetic.meridional(models), "latitude_coherence"),
    "energy_score": lambda models: multivariate_figures.energy_score_by_lead(
        synthetic.energy_score(models)),
    "variable_correlation": lambda models: multivariate_figures.variable_correlation_by_lead(
        synthetic.variable_correlation(models)),
    "perfect_model": lambda models: perfect_model_figures.crps_over_ideal_by_lead(
        synthetic.perfect_model(models)),
}


@pytest.mark.parametrize("name", FIGURES)
def test_table_figures_are_readable_pngs(name):
    assert_readable(FIGURES[name](synthetic.MODELS))


@pytest.mark.parametrize("name", FIGURES)
def test_figures_draw_whatever_models_are_present(name):
    """A run without the post-processor (or an old "emulated-N" model) still draws."""
    assert_readable(FIGURES[name](("physics-31", "emulated-32")))


def test_bias_maps_grow_a_row_per_model():
    two = decoded(figures.bias_maps(synthetic.bias_maps(synthetic.MODELS[:2]), LEAD))
    four = decoded(figures.bias_maps(synthetic.bias_maps(synthetic.MODELS), LEAD))
    assert four.shape[1] == two.shape[1] and four.shape[0] > two.shape[0] * 1.4


def test_bias_maps_mark_a_model_missing_for_one_variable():
    table = synthetic.bias_maps()
    table = table[~((table["model"] == "gpp-128") & (table["variable"] == "sp"))]
    assert_readable(figures.bias_maps(table, LEAD))


def test_rank_histograms_sum_counts_over_inits():
    """Stacked partitions and their sum are the same histogram, hence the same image."""
    stacked = synthetic.ranks(n_inits=2)
    keys = ["model", "variable", "lead_time_days", "rank"]
    summed = stacked.groupby(keys, as_index=False, sort=False)["count"].sum()
    assert np.array_equal(decoded(figures.rank_histograms(stacked, LEAD)),
                          decoded(figures.rank_histograms(summed, LEAD)))


def test_example_members_are_readable_for_signed_and_positive_fields():
    for variable, units in (("t850", "K"), ("u850", "m s-1")):
        assert_readable(figures.example_members(synthetic.member_panels(variable), variable, units))


def test_example_members_refuse_fields_that_are_not_lat_lon():
    panels = synthetic.member_panels("t850")
    panels["physics member 0"] = panels["physics member 0"].expand_dims(member=2)
    with pytest.raises(ValueError, match="physics member 0"):
        figures.example_members(panels, "t850", "K")


def test_a_lead_absent_from_the_table_is_named():
    with pytest.raises(ValueError, match="rank_histograms: no rows at lead 7 days"):
        figures.rank_histograms(synthetic.ranks(), 7.0)


def test_a_missing_column_is_named():
    with pytest.raises(ValueError, match=r"bias_maps: table lacks column\(s\) \['mean_error'\]"):
        figures.bias_maps(synthetic.bias_maps().drop(columns="mean_error"), LEAD)


def test_an_absent_quantile_is_named():
    with pytest.raises(ValueError, match="quantile 0.05"):
        figures.reliability_diagram(synthetic.reliability(), 0.05, LEAD)


def test_units_are_drawn_with_superscripts():
    assert panels.units_label("m2 s-2") == "m$^{2}$ s$^{-2}$"
    assert panels.units_label("K") == "K"


def test_a_model_family_keeps_its_colour_and_others_get_distinct_ones():
    colours = panels.model_colours(["gee-128", "gee-64", "mystery-1", "other-2"])
    assert colours["gee-128"] == colours["gee-64"]
    assert len({colours["gee-128"], colours["mystery-1"], colours["other-2"]}) == 3


@pytest.mark.parametrize("leads", [(1.0, 3.0), tuple(float(d) for d in range(1, 16))])
def test_coherence_draws_any_number_of_lead_pairs(leads):
    """Leads are changing from (1, 3, 5, 7) days to more: one pair or fourteen both draw."""
    assert_readable(figures.coherence_by_lead_pair(synthetic.coherence(leads=leads)))


def test_power_ratio_needs_its_column_and_lead():
    with pytest.raises(ValueError, match=r"power_ratio: table lacks column\(s\) \['power_ratio'\]"):
        figures.power_ratio(synthetic.power_ratios().drop(columns="power_ratio"), LEAD)
    with pytest.raises(ValueError, match="power_ratio: no rows at lead 7 days"):
        figures.power_ratio(synthetic.power_ratios(), 7.0)


def test_the_standard_crps_is_drawn_dashed_beside_the_fair_one():
    summary = synthetic.summary()
    fair = decoded(figures.lead_time_scores(summary, "crps"))
    both = decoded(figures.lead_time_scores(summary, "crps", dashed="crps_standard"))
    assert fair.shape == both.shape and not np.array_equal(fair, both)
    with pytest.raises(ValueError, match=r"lead_time_scores: table has no column\(s\) "
                                         r"\['crps_standard'\]"):
        figures.lead_time_scores(summary.drop(columns="crps_standard"), "crps",
                                 dashed="crps_standard")


def test_variable_correlation_draws_a_panel_per_pair_whatever_their_number():
    """Two variables make one pair and one panel, the legend beside it; three make three panels
    and the legend a row below; ten (five variables) fill four rows of three."""
    one = decoded(multivariate_figures.variable_correlation_by_lead(
        synthetic.variable_correlation(variables=("z500", "t850"))))
    three = decoded(multivariate_figures.variable_correlation_by_lead(
        synthetic.variable_correlation(variables=("z500", "t850", "u850"))))
    ten = assert_readable(multivariate_figures.variable_correlation_by_lead(
        synthetic.variable_correlation()))
    assert one.shape[1] < three.shape[1] == ten.shape[1]
    assert one.shape[0] < three.shape[0] < ten.shape[0]


def test_multivariate_figures_name_a_missing_column():
    with pytest.raises(ValueError, match=r"energy_score_by_lead: table lacks column\(s\) "
                                         r"\['energy_score_standard'\]"):
        multivariate_figures.energy_score_by_lead(
            synthetic.energy_score().drop(columns="energy_score_standard"))
    with pytest.raises(ValueError, match=r"variable_correlation_by_lead: table lacks column"):
        multivariate_figures.variable_correlation_by_lead(
            synthetic.variable_correlation().drop(columns="correlation"))


def test_the_perfect_model_figure_draws_the_models_held_to_the_target():
    """ideal-K and the seeds have no fair CRPS ratio: without an emulated model there is nothing
    to draw, and the figure says so; a table without the ratios is named."""
    only_references = synthetic.perfect_model(models=("seeds-2",))
    with pytest.raises(ValueError, match="crps_over_ideal_by_lead: no model has a "
                                         "fair_crps_over_ideal"):
        perfect_model_figures.crps_over_ideal_by_lead(only_references)
    with pytest.raises(ValueError, match=r"crps_over_ideal_by_lead: table lacks column\(s\) "
                                         r"\['fair_crps_over_ideal'\]"):
        perfect_model_figures.crps_over_ideal_by_lead(
            synthetic.perfect_model().drop(columns="fair_crps_over_ideal"))
