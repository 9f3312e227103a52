"""The generator registry: lookup with did-you-mean, registration, namespaced streams, Spirograph as released."""

import pickle

import numpy as np
import pytest
import torch

import spirograph
from spirograph import FactorSpace, Generator, Spirograph, generators, seeding
from spirograph.generators import GeneratorSpec


def test_get_and_list():
    assert "spirograph" in generators.list()
    spec = generators.get("spirograph")
    assert generators.get() is spec and generators.get(spec) is spec
    assert spec.names == spirograph.FACTOR_NAMES and spec.content == spirograph.DEFAULT_CONTENT
    assert (spec.name, spec.version) == ("spirograph", 1)


def test_unknown_generator_is_one_line_with_did_you_mean():
    with pytest.raises(ValueError, match=r"^unknown generator 'spirogrph'; did you mean 'spirograph'\? available: .*spirograph"):
        generators.get("spirogrph")
    with pytest.raises(ValueError, match=r"^unknown generator 'zz'"):
        FactorSpace(generator="zz")
    with pytest.raises(ValueError, match=r"^generator=3: expected a generator name"):
        generators.get(3)


def test_register_refuses_a_taken_name(toy):
    assert generators.get("toy") is toy and "toy" in generators.list()
    clash = GeneratorSpec(**{**{f: getattr(toy, f) for f in toy.__dataclass_fields__}, "version": 2})
    with pytest.raises(ValueError, match=r"^spec.name='toy': expected a name not yet registered"):
        generators.register(clash)
    with pytest.raises(ValueError, match=r"^spec='str': expected a spirograph.generators.GeneratorSpec"):
        generators.register("toy")


@pytest.mark.parametrize(
    "change, match",
    [
        ({"name": "Bad Name"}, r"^name='Bad Name': expected a lower-case identifier"),
        ({"version": 0}, r"^version=0: expected an integer >= 1"),
        ({"content": ("nope",)}, r"^unknown factor in content 'nope'"),
        ({"content": ("radius", "x", "fg_r", "fg_g", "bg_r")}, r"^content=.*: expected at least one content and one nuisance factor"),
        ({"options": {"softness": 0.1}}, r"^options=\['softness'\]: expected a 'resolution' option"),
        ({"groups": {"x": ("bg_r",)}}, r"^groups='x': expected group names that are identifiers and not factor names"),
        ({"factors": {"radius": (0.0, 0.8), "x": (-0.5, 0.5), "fg_r": (0.4, 1.0), "fg_g": (0.4, 1.0), "bg_r": (0.0, 0.6)}},
         r"^factors\['radius'\]=\(0.0, 0.8\): expected low > 0"),
        ({"render_fn": None}, r"^render_fn=None: expected a callable"),
    ],
)
def test_spec_refuses_inconsistent_descriptions(toy, change, match):
    fields = {f: getattr(toy, f) for f in toy.__dataclass_fields__}
    with pytest.raises(ValueError, match=match):
        GeneratorSpec(**{**fields, **change})


def test_spirograph_draws_are_those_of_0_2():
    """Item draws as 0.1/0.2 made them (values recorded from 0.2), so split files keep their bytes."""
    draw = FactorSpace().sample(3, seed=123, stream="test/nuisance/2", start=5, dtype=torch.float64)
    expected = {
        "m": ["0x1.afc99d6dca195p+1", "0x1.abd5ca21a0d26p+1", "0x1.3bdceeee2e523p+1"],
        "sigma": ["0x1.9c0fab39360f6p-1", "0x1.0353df68976c1p-1", "0x1.71b4b69db64ecp-1"],
        "bg_b": ["0x1.25f2a50005521p-1", "0x1.4dc00dcd87033p-2", "0x1.96676b52ab503p-5"],
    }
    for name, values in expected.items():
        assert [float(v).hex() for v in draw[name]] == values
    u = seeding.uniform_at(123, "test/nuisance/2", ("m",), np.arange(5, 8, dtype=np.uint64))[0]
    assert np.array_equal(draw["m"].numpy(), 2.0 + 3.0 * u)


def test_streams_of_other_generators_are_namespaced(toy):
    """The toy's fg_r has Spirograph's name and range, yet its own draws."""
    ours = FactorSpace(generator="toy").sample(50, seed=0, names=["fg_r"], dtype=torch.float64)["fg_r"]
    theirs = FactorSpace().sample(50, seed=0, names=["fg_r"], dtype=torch.float64)["fg_r"]
    assert not torch.isclose(ours, theirs).any()


def test_spaces_record_their_generator(toy):
    space = FactorSpace(generator="toy", content=["x"])
    assert space.generator == "toy" and space.spec is toy and space.names == toy.names
    data = space.to_dict()
    assert data["generator"] == "toy" and FactorSpace.from_dict(data) == space
    assert "generator" not in FactorSpace().to_dict()  # Spirograph's record is that of 0.1/0.2
    assert FactorSpace.from_dict(FactorSpace().to_dict()).generator == "spirograph"
    assert space != FactorSpace() and "generator 'toy'" in repr(space)
    assert pickle.loads(pickle.dumps(space)) == space


def test_generator_and_space_must_agree(toy):
    with pytest.raises(ValueError, match=r"^space=.a space of generator .toy..: expected a space of generator 'spirograph'$"):
        Generator("spirograph", FactorSpace(generator="toy"))
    assert Generator(space=FactorSpace(generator="toy")).spec is toy
    with pytest.raises(ValueError, match=r"^unknown render option 'n_points';? available in generator 'toy': resolution, softness$"):
        Generator("toy", n_points=40)


def test_spirograph_is_the_spirograph_generator():
    gen = Spirograph(resolution=12, n_points=30, extent=5.0, normalize="image")
    assert isinstance(gen, Generator) and gen.spec is generators.get("spirograph")
    assert gen.render_options() == {"resolution": 12, "n_points": 30, "extent": 5.0, "normalize": "image"}
    assert (gen.n_points, gen.extent, gen.normalize, gen.resolution) == (30, 5.0, "image", 12)
    plain = Generator("spirograph", resolution=12, n_points=30, extent=5.0, normalize="image")
    assert torch.equal(gen.items(4, seed=0)[0], plain.items(4, seed=0)[0])


def test_old_import_paths_still_work():
    from spirograph.dense import render_dense
    from spirograph.factors import FACTOR_GROUPS, resolve_target
    from spirograph.render import NORMALIZATIONS, curve_points, render_unchecked
    from spirograph.shifts import BY_SPLIT_NAME, SHIFT_FAMILIES, get_family

    assert callable(spirograph.render) and callable(render_dense) and callable(curve_points) and callable(render_unchecked)
    assert NORMALIZATIONS == ("row", "image") and resolve_target("background") == FACTOR_GROUPS["background"]
    assert get_family("bg_mean") is BY_SPLIT_NAME["bg_mean"] is SHIFT_FAMILIES["background_mean"]
    assert tuple(SHIFT_FAMILIES.values()) == generators.get("spirograph").shifts


def test_suites_are_registered_per_generator(toy):
    from spirograph.harness import suites

    sizes = dict(seed=0, n_train=60, n_test=30, n_averaging_train=20, n_averaging_test=20, n_robustness_train=20, n_robustness_test=20,
                 label_fractions=(0.1, 1.0), knn_neighbours=(1, 3))
    ours = suites.Suite(name="quick", version=1, generator="toy", resolution=12, options=(("softness", 0.2),), **sizes)
    suites.register_suite(ours)
    try:
        assert suites.get_suite("quick", generator="toy") is ours and suites.available_suites(generator="toy") == ("quick",)
        assert suites.get_suite("quick").generator == "spirograph"  # Spirograph's quick is untouched
        record = ours.to_dict()
        assert record["generator"] == "toy" and record["render"] == {"resolution": 12, "softness": 0.2}
        assert "n_points" not in record and list(record["robustness"]) == ["background_mean"]
        assert "generator" not in suites.get_suite("quick").to_dict()  # Spirograph's records are those released
        with pytest.raises(ValueError, match=r"^unknown suite 'quik'; did you mean 'quick'\? available in generator 'toy': quick$"):
            suites.get_suite("quik", generator="toy")
        with pytest.raises(ValueError, match=r"^n_points/extent/normalize=\(40, 6.0, 'image'\): expected Spirograph's defaults"):
            suites.Suite(name="bad", version=1, generator="toy", normalize="image", **sizes)
        with pytest.raises(ValueError, match=r"^softness=0: expected a finite number > 0$"):
            suites.Suite(name="bad", version=1, generator="toy", options=(("softness", 0),), **sizes)
    finally:
        suites._SUITES.pop("toy", None)


def test_score_command_takes_the_generator_and_refuses_a_suite_it_lacks(tmp_path, capsys, toy):
    from spirograph.cli import main as cli

    out = tmp_path / "r.json"
    assert cli(["score", "--reference", "pixels", "--generator", "toy", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown suite 'quick'" in err[0] and "generator 'toy'" in err[0]
    assert cli(["score", "--reference", "pixels", "--generator", "spirogrph", "--out", str(out), "--quiet"]) == 2
    assert "unknown generator 'spirogrph'; did you mean 'spirograph'?" in capsys.readouterr().err
    assert not out.exists()
