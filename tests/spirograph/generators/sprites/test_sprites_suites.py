"""Sprites' suites and shipped reference entries."""

import pytest

from spirograph.generators import get
from spirograph.harness.groups import generator_of
from spirograph.harness.leaderboard import load_results, rank, shipped_entries
from spirograph.harness.suites import get_suite, suite_versions
from spirograph.harness.tasks import TASK_NAMES


def test_quick_and_standard_are_registered_for_sprites():
    for name in ("quick", "standard"):
        suite = get_suite(name, generator="sprites")
        assert suite.generator == "sprites" and suite_versions(name, generator="sprites") == (1, 2)
        assert suite.render_options() == dict(get("sprites").options)
        assert set(suite.to_dict()["robustness"]) == {f.key for f in get("sprites").shifts}
    assert get_suite("quick", generator="sprites").seed != get_suite("quick").seed


@pytest.fixture(scope="module")
def sprites_entries():
    return [r for r in load_results(shipped_entries()) if generator_of(r)[0] == "sprites"]


def test_shipped_sprites_entries_are_real_runs(sprites_entries):
    assert sorted(r.name for r in sprites_entries) == ["oracle", "pixels", "random-convnet"]
    for result in sprites_entries:
        data = result.to_dict()
        expected = f"spirograph score --reference {result.name} --suite quick --generator sprites --out spirograph/harness/entries/sprites/{result.name}.json"
        assert data["command"] in (expected, expected + " --overwrite")  # re-scored over the file of the version before
        assert (data["suite"]["name"], data["suite"]["version"]) == ("quick", 2)
        assert data["tasks"] == list(TASK_NAMES)
    by_name = {r.name: r for r in sprites_entries}
    assert by_name["oracle"].metric("linear.mean_r2") >= 0.999
    assert [r.name for r, _ in rank(sprites_entries)][0] == "oracle"
