"""NCF family builders: shapes, a fit step, config and save/load round trips, pretraining, baselines."""

import keras
import numpy as np
import pytest

from hncf.testing import assert_batch_permutation_equivariant, assert_model_round_trip

from hncf.models.ncf import (
    BUILDERS,
    DotWithBias,
    PopularityModel,
    build_gmf,
    build_mf,
    build_mlp,
    build_neumf,
    load_pretrained_neumf,
)

N_USERS, N_ITEMS = 7, 11
TINY = {"gmf": {"n_factors": 3}, "mlp": {"layers": (6, 4)}, "neumf": {"n_factors": 3, "layers": (6, 4)},
        "mf": {"n_factors": 3}}


def _inputs(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return {"user_id": rng.integers(0, N_USERS, n).astype("int32"),
            "item_id": rng.integers(0, N_ITEMS, n).astype("int32")}


def _logit(p):
    return np.log(p) - np.log1p(-p)


@pytest.fixture(params=sorted(BUILDERS))
def model(request):
    keras.utils.set_random_seed(0)
    return BUILDERS[request.param](N_USERS, N_ITEMS, **TINY[request.param])


def test_named_inputs_and_output_shape(model):
    assert sorted(model.input.keys()) == ["item_id", "user_id"]
    out = np.asarray(model.predict_on_batch(_inputs()))
    assert out.shape == (20,)
    assert np.all((out > 0) & (out < 1))


def test_fit_step_lowers_loss(model):
    x = _inputs(64)
    y = (x["user_id"] % 2 == x["item_id"] % 2).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    first = model.train_on_batch(x, y)
    for _ in range(30):
        last = model.train_on_batch(x, y)
    assert np.isfinite(first) and last < first


def test_save_reload_and_config_round_trip(model, tmp_path):
    assert_model_round_trip(model, _inputs(), tmp_path)


def test_permuting_the_batch_permutes_the_scores(model):
    # Guards against a score that reduces over the batch.
    assert_batch_permutation_equivariant(model, _inputs(30, seed=1), seed=2)


def test_mf_is_the_biased_dot_product():
    keras.utils.set_random_seed(1)
    m = build_mf(N_USERS, N_ITEMS, n_factors=4)
    rng = np.random.default_rng(0)
    for name in ("mf_user_bias", "mf_item_bias"):
        layer = m.get_layer(name)
        layer.set_weights([rng.normal(size=layer.get_weights()[0].shape)])
    m.get_layer("score").set_weights([np.array(0.3)])
    x = _inputs()
    p = m.get_layer("mf_user_embedding").get_weights()[0][x["user_id"]]
    q = m.get_layer("mf_item_embedding").get_weights()[0][x["item_id"]]
    bu = m.get_layer("mf_user_bias").get_weights()[0][x["user_id"], 0]
    bi = m.get_layer("mf_item_bias").get_weights()[0][x["item_id"], 0]
    expected = 1 / (1 + np.exp(-((p * q).sum(1) + bu + bi + 0.3)))
    np.testing.assert_allclose(np.asarray(m.predict_on_batch(x)), expected, rtol=1e-5)
    assert isinstance(m.get_layer("score"), DotWithBias)


def test_neumf_pretraining_averages_the_two_logits():
    # With alpha = 0.5 the NeuMF output layer is half of each tower's, so
    # logit(NeuMF) = 0.5 * logit(GMF) + 0.5 * logit(MLP) exactly.
    keras.utils.set_random_seed(3)
    gmf = build_gmf(N_USERS, N_ITEMS, n_factors=3)
    mlp = build_mlp(N_USERS, N_ITEMS, layers=(6, 4))
    rng = np.random.default_rng(0)
    for m in (gmf, mlp):  # move away from the init so the copy is visible
        m.set_weights([w + rng.normal(scale=0.5, size=w.shape) for w in m.get_weights()])
    neumf = load_pretrained_neumf(build_neumf(N_USERS, N_ITEMS, n_factors=3, layers=(6, 4)), gmf, mlp, alpha=0.5)
    x = _inputs()
    g, m_, n = (np.asarray(k.predict_on_batch(x), dtype=np.float64) for k in (gmf, mlp, neumf))
    np.testing.assert_allclose(_logit(n), 0.5 * _logit(g) + 0.5 * _logit(m_), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(neumf.get_layer("gmf_user_embedding").get_weights()[0],
                                  gmf.get_layer("gmf_user_embedding").get_weights()[0])


def test_pretraining_with_mismatched_sizes_names_the_layer():
    gmf = build_gmf(N_USERS, N_ITEMS, n_factors=5)
    mlp = build_mlp(N_USERS, N_ITEMS, layers=(6, 4))
    with pytest.raises(ValueError, match="gmf_user_embedding"):
        load_pretrained_neumf(build_neumf(N_USERS, N_ITEMS, n_factors=3, layers=(6, 4)), gmf, mlp)


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="even"):
        build_mlp(N_USERS, N_ITEMS, layers=(5, 4))
    with pytest.raises(ValueError, match="n_users=0"):
        build_gmf(0, N_ITEMS)


def test_popularity_scores_training_counts():
    pop = PopularityModel(5).fit(np.array([0, 1, 1, 3, 3, 3]))
    np.testing.assert_array_equal(pop.score(np.array([9, 9, 9]), np.array([3, 1, 4])), [3, 2, 0])
