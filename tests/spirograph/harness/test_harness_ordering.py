"""The headline invariance and worst-case numbers order obvious encoders the way their names say.

The oracle (features = the content itself) carries no nuisance; a trained contrastive encoder
(the `cpu-quick` SimCLR ConvNet, trained here for 150 of its 1,248 steps: about 20 s on two cores,
and already ordered with a margin) was taught to ignore it; a random ConvNet was not; raw pixels
are the nuisance. So every "how much nuisance" number must rank oracle < trained < random ConvNet <
pixels. The exception the README states: the sensitivity ratio is a ratio of local derivatives,
and a pixel moves with the content factors m and b at least as much as with the nuisance, so pixels
are not last on it; the other three references are still ordered.
"""

import pytest
import torch

from spirograph.harness import reference_encoder, score
from spirograph.harness.suites import Suite

SUITE = Suite(name="ordering", version=1, seed=11, n_train=2000, n_test=600, n_averaging_train=300, n_averaging_test=300,
              n_robustness_train=300, n_robustness_test=150, n_invariance_test=300, n_sensitivity=100, n_worst_case=40,
              averaging_draws=(1, 10), label_fractions=(0.1, 1.0), knn_neighbours=(1, 3), bootstrap_resamples=100)
HEADLINE = {
    "whitened conditional variance": "invariance.whitened_conditional_variance",
    "probe nuisance share": "invariance.probe_nuisance_share.mean",
    "worst case at ε = 0.05": None,
    "worst-case area": "worst_case.area",
}


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    from spirograph_baselines import train
    from spirograph_baselines.load import load_encoder

    run = tmp_path_factory.mktemp("ordering") / "simclr"
    assert train.main(["--method", "simclr", "--preset", "cpu-quick", "--out", str(run), "--seed", "0", "--suite", "none",
                       "--no-progress", "--set", "max_steps=150", "--set", "epochs=2"]) == 0
    torch.manual_seed(0)
    encoders = {"oracle": reference_encoder("oracle"), "trained": load_encoder(run),
                "random ConvNet": reference_encoder("random-convnet"), "pixels": reference_encoder("pixels")}
    results = {}
    for name, encoder in encoders.items():
        result = score(encoder, suite=SUITE, tasks=["linear", "invariance", "sensitivity", "worst_case"], progress=False)
        values = {key: result.metric(path) for key, path in HEADLINE.items() if path is not None}
        values["worst case at ε = 0.05"] = result.to_dict()["metrics"]["worst_case"]["curve"][0]["normalized_mse"]["value"]
        values["sensitivity ratio"] = result.metric("sensitivity.nuisance_to_content")
        results[name] = values
    return results


@pytest.mark.parametrize("metric", list(HEADLINE))
def test_oracle_trained_random_pixels_in_order(scores, metric):
    values = [scores[name][metric] for name in ("oracle", "trained", "random ConvNet", "pixels")]
    assert values == sorted(values) and len(set(values)) == 4, (metric, values)


def test_the_sensitivity_ratio_orders_all_but_pixels(scores):
    values = [scores[name]["sensitivity ratio"] for name in ("oracle", "trained", "random ConvNet")]
    assert values == sorted(values) and len(set(values)) == 3, values
