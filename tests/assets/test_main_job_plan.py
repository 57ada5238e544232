"""The main job's steps come from the asset graph of the definitions: every asset, each after what
it depends on, the physics first, a new asset in its place without editing the job."""

from dagster import asset

from assets.definitions import ALL_ASSETS
from assets.main_job_plan import Step, graph_order, main_job_steps
from assets.summary import verification_summary

OPERATIONAL, REFORECAST = ["2000-02-09", "2000-02-10"], ["2000-01-01", "2000-01-02", "2000-01-03"]


def test_every_asset_and_partition_is_a_step_after_what_it_depends_on():
    steps = main_job_steps(ALL_ASSETS, OPERATIONAL, REFORECAST)
    names = {a.key.to_user_string() for a in ALL_ASSETS}
    assert {s.asset for s in steps} == names
    assert [s.partition for s in steps if s.asset == "reforecast_shards"] == REFORECAST
    for partitioned in ("operational_ensemble", "daily_emulated_ensembles", "verification_scores"):
        assert [s.partition for s in steps if s.asset == partitioned] == OPERATIONAL
    first = {}
    for index, step in enumerate(steps):
        first.setdefault(step.asset, index)
    for a in ALL_ASSETS:
        for upstream in a.dependency_keys:
            if upstream != a.key:
                assert first[upstream.to_user_string()] < first[a.key.to_user_string()], (upstream, a.key)
    physics = [s.physics for s in steps]
    assert physics == sorted(physics, reverse=True), "the physics lead"
    assert {s.asset for s in steps if s.physics} == {"physics_spinup", "truth", "reforecast_shards",
                                                      "operational_ensemble"}


def test_an_asset_added_to_the_definitions_is_a_step_in_its_place():
    @asset(deps=[verification_summary])
    def forecaster_bulletin() -> None:
        """A new asset downstream of the summary."""

    listed_first = [forecaster_bulletin, *ALL_ASSETS]  # listed first, still after its dependency
    order = [a.key.to_user_string() for a in graph_order(listed_first)]
    assert order.index("forecaster_bulletin") == order.index("verification_summary") + 1
    assert Step("forecaster_bulletin", None, False) in main_job_steps(listed_first, OPERATIONAL, REFORECAST)
