import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from helpers import metrics

from helpers.metrics import (average_precision, evaluate, map_at_k, mean_average_precision,
                             precision_at_k, rank_gallery, recall_at_k)


def test_average_precision_matches_sklearn_on_full_rankings():
    rng = np.random.default_rng(0)
    for _ in range(50):
        y = rng.random(30) < 0.3
        if not y.any():
            continue
        scores = rng.random(30)
        order = np.argsort(-scores)
        assert average_precision(y[order]) == pytest.approx(average_precision_score(y, scores))


def test_average_precision_counts_unretrieved_relevant_items_as_zero():
    # two hits at ranks 1 and 2, but 4 relevant items exist
    assert average_precision([True, True, False], n_relevant=4) == pytest.approx(0.5)
    assert average_precision([True, True, False]) == pytest.approx(1.0)


def test_perfect_and_worst_rankings():
    assert average_precision([1, 1, 0, 0]) == 1.0
    assert average_precision([0, 0, 1]) == pytest.approx(1 / 3)


def test_precision_and_recall_at_k():
    rel = np.array([1, 0, 1, 0, 0], bool)
    assert precision_at_k(rel, 2) == 0.5
    assert precision_at_k(rel, 10) == pytest.approx(0.2)  # missing ranks are misses
    assert recall_at_k(rel, 1) == 0.5
    assert recall_at_k(rel, 3, n_relevant=4) == 0.5


def test_map_at_k_perfect_top_k_scores_one():
    rel = np.array([[1, 1, 1, 0, 1], [1, 0, 0, 0, 1]], bool)
    assert map_at_k(rel[:1], 3) == 1.0
    assert map_at_k(rel[1:], 3) == pytest.approx(1 / 2)  # min(k, n_relevant) = 2
    assert mean_average_precision(rel) == pytest.approx(np.mean([average_precision(r) for r in rel]))


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_bad_k_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k([1, 0], bad)


def test_no_relevant_items_is_an_error_not_a_nan():
    with pytest.raises(ValueError, match="no relevant"):
        average_precision([0, 0, 0])
    with pytest.raises(ValueError, match="1-D"):
        average_precision(np.ones((2, 2), bool))


def test_evaluate_random_scores_give_map_near_the_class_prior():
    rng = np.random.default_rng(1)
    y_gallery = np.repeat(np.arange(10), 50)
    y_query = np.repeat(np.arange(10), 5)
    sims = rng.random((len(y_query), len(y_gallery)))
    out = evaluate(sims, y_query, y_gallery, k=10)
    assert set(out) == {"precision@10", "recall@10", "mAP", "mAP@10"}
    assert 0.07 < out["mAP"] < 0.14  # prior = 0.1
    perfect = evaluate((y_query[:, None] == y_gallery[None]).astype(float), y_query, y_gallery)
    assert perfect["mAP"] == 1.0 and perfect["precision@10"] == 1.0


def test_evaluate_checks_shapes_and_relevance():
    with pytest.raises(ValueError, match="expected"):
        evaluate(np.zeros((2, 3)), [0, 1], [0, 1])
    with pytest.raises(ValueError, match="no relevant"):
        evaluate(np.zeros((1, 2)), [5], [0, 1])


def test_rank_gallery_breaks_ties_by_index():
    assert rank_gallery(np.array([[0.5, 0.9, 0.5]])).tolist() == [[1, 0, 2]]


def test_evaluate_can_leave_each_query_out_of_its_own_gallery():
    y = np.array([0, 0, 1, 1, 1])
    sims = np.eye(5) + 0.01 * np.arange(5)[None]
    with_self = evaluate(sims, y, y, k=2)
    left_out = evaluate(sims, y, y, k=2, exclude=np.arange(5))
    assert with_self["precision@2"] > left_out["precision@2"]
    # query 0 has one relevant item (1); leaving itself out, recall@4 must be 1 for every query
    assert evaluate(sims, y, y, k=4, exclude=np.arange(5))["recall@4"] == 1.0


def test_average_precisions_average_to_evaluates_map():
    rng = np.random.default_rng(0)
    sims = rng.normal(size=(7, 20))
    yq, yg = rng.integers(0, 3, 7), np.arange(20) % 3
    aps = metrics.average_precisions(sims, yq, yg)
    assert aps.shape == (7,) and np.isclose(aps.mean(), metrics.evaluate(sims, yq, yg)["mAP"])


def test_bootstrap_ci_matches_a_direct_resampling_loop():
    values = np.random.default_rng(1).uniform(size=40)
    low, high = metrics.bootstrap_ci(values, n_boot=500, seed=3)
    rng = np.random.default_rng(3)
    draws = rng.integers(0, 40, size=(500, 40))
    means = sorted(np.mean([values[i] for i in row]) for row in draws)   # the plainest loop
    assert np.isclose(low, np.quantile(means, 0.025)) and np.isclose(high, np.quantile(means, 0.975))
    assert low < values.mean() < high
    wide = metrics.bootstrap_ci(values[:10], n_boot=500, seed=3)
    assert wide[1] - wide[0] > high - low                               # fewer queries, wider interval
    with pytest.raises(ValueError, match="at least 2"):
        metrics.bootstrap_ci([0.5])


def test_cluster_bootstrap_resamples_whole_groups():
    rng = np.random.default_rng(2)
    values = rng.uniform(size=30)
    mean, low, high = metrics.cluster_bootstrap(values, np.arange(30), n_boot=500, seed=3)
    assert np.isclose(mean, values.mean()) and (low, high) == metrics.bootstrap_ci(values, n_boot=500, seed=3)
    groups = np.repeat(np.arange(6), 5)                        # 6 clusters of 5 values, shifted per cluster
    clustered = values + np.repeat(rng.normal(0, 0.5, 6), 5)
    mean, low, high = metrics.cluster_bootstrap(clustered, groups, n_boot=500, seed=3)
    draws = np.random.default_rng(3).integers(0, 6, size=(500, 6))
    means = [np.mean(np.concatenate([clustered[groups == g] for g in row])) for row in draws]   # the plainest loop
    assert np.isclose(low, np.quantile(means, 0.025)) and np.isclose(high, np.quantile(means, 0.975))
    naive = metrics.bootstrap_ci(clustered, n_boot=500, seed=3)
    assert high - low > naive[1] - naive[0]                    # correlated values: a wider, honest interval
    with pytest.raises(ValueError, match="at least 2 groups"):
        metrics.cluster_bootstrap([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="same length"):
        metrics.cluster_bootstrap([0.1, 0.2], [1])


def test_paired_difference_finds_a_consistent_gain_and_calls_noise_noise():
    rng = np.random.default_rng(0)
    b = rng.uniform(size=60)
    assert metrics.paired_difference(b + 0.02, b)["verdict"] == "A better"          # small but every query
    assert metrics.paired_difference(b, b + 0.02)["verdict"] == "B better"
    noise = metrics.paired_difference(b + rng.normal(0, 0.3, 60), b + rng.normal(0, 0.3, 60))
    assert noise["verdict"] == "no measurable difference" and noise["low"] < 0 < noise["high"]
    assert metrics.format_ci(b).count("[") == 1
