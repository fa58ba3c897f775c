"""Contracts of the per-node flow: invertibility, DAG structure, exact log-determinant."""

import numpy as np
import pandas as pd
import pytest
import torch

from medflow import CausalFlow
from medflow.flow import FlowConfig, NodeFlows

# Blau-Duncan order V, X, U, W, Y with V -> X (a correlated root pair as the flow sees it).
PARENTS = {0: [], 1: [0], 2: [0, 1], 3: [1, 2], 4: [1, 2, 3]}


def bd_mask(dtype=torch.float64):
    m = torch.zeros(5, 5, dtype=dtype)
    for j, ps in PARENTS.items():
        m[j, ps] = 1
    return m


def random_flow(ensemble=1, layers=2, seed=0):
    """A flow with random (non-identity) splines and linear parts, in float64."""
    g = torch.Generator().manual_seed(seed)
    f = NodeFlows(bd_mask(), ensemble=ensemble, generator=g, dtype=torch.float64, layers=layers)
    with torch.no_grad():
        for p in f.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.3)
    return f


def test_identity_start_is_the_linear_sem():
    f = NodeFlows(bd_mask(), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():   # the linear SEM part: every slope 0.3 on the graph's edges, unit scale
        f.weight.copy_((0.3 * bd_mask()).expand_as(f.weight))
        f.bias.zero_()
        f.log_scale.zero_()
    v = torch.randn(1, 50, 5, dtype=torch.float64)
    eps, ladj = f(v, v)
    expected = v - v @ (0.3 * bd_mask()).T       # residual of the linear SEM, unit scale
    assert torch.allclose(eps, expected, atol=1e-12)
    assert torch.allclose(ladj, torch.zeros_like(ladj))


def test_inverse_of_forward_is_identity():
    f = random_flow()
    v = torch.randn(1, 200, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    eps, _ = f(v, v)
    for j in range(5):
        back = f.inverse_node(j, eps[..., j], v)
        assert torch.max(torch.abs(back - v[..., j])) < 1e-5
        assert torch.allclose(f.forward_node(j, v[..., j], v), eps[..., j], atol=1e-10)


def test_noise_depends_only_on_own_value_and_parents():
    f = random_flow()
    v = torch.randn(7, 5, dtype=torch.float64)
    for row in v:
        jac = torch.autograd.functional.jacobian(lambda r: f(r[None, None], r[None, None])[0][0, 0], row)
        for j in range(5):
            allowed = {j, *PARENTS[j]}
            for k in range(5):
                if k not in allowed:
                    assert jac[j, k] == 0.0, (j, k)
            assert jac[j, j] > 0                     # strictly increasing in its own value


def test_log_det_matches_autograd():
    f = random_flow()
    v = torch.randn(1, 30, 5, dtype=torch.float64)
    _, ladj = f(v, v)
    for i in range(30):
        row = v[0, i]
        jac = torch.autograd.functional.jacobian(lambda r: f(r[None, None], r[None, None])[0][0, 0], row)
        # Triangular in topological order, so log|det J| = sum of the diagonal's logs.
        assert torch.allclose(torch.logdet(jac), ladj[0, i].sum(), atol=1e-8)
        assert torch.allclose(torch.log(torch.diagonal(jac)), ladj[0, i], atol=1e-8)


def test_ensemble_members_are_independent_flows():
    f = random_flow(ensemble=3)
    v = torch.randn(40, 5, dtype=torch.float64)
    eps_all, _ = f(v.expand(3, -1, -1), v.expand(3, -1, -1))
    for k in range(3):
        one = f.member(k)
        eps_k, _ = one(v[None], v[None])
        assert torch.equal(eps_k[0], eps_all[k])


def test_unknown_setting_is_an_error():
    with pytest.raises(ValueError, match="Unknown flow setting\\(s\\): width"):
        FlowConfig(width=3)


def _conditional_mean_slopes(fit, node, parents, rng):
    """Slopes of E[V_node | parents] from the fitted flow, by Monte Carlo over the noise."""
    j = fit.variables.index(node)
    eps = torch.as_tensor(rng.standard_normal(4000), dtype=fit.dtype)
    base = fit.data.mean().to_numpy()
    pts, means = [], []
    for _ in range(25):
        x = base.copy()
        for p in parents:
            x[fit.variables.index(p)] = base[fit.variables.index(p)] + rng.normal() * fit.data[p].std()
        xs = fit._to_tensor(x[None]).expand(1, len(eps), -1)
        v = fit.flow.inverse_node(j, eps[None], xs)
        means.append(float(v.mean()) * fit.encoding.scale[j] + fit.encoding.loc[j])
        pts.append([x[fit.variables.index(p)] for p in parents])
    design = np.column_stack([np.ones(len(pts)), np.array(pts)])
    return np.linalg.lstsq(design, np.array(means), rcond=None)[0][1:]


def test_linear_gaussian_slopes_are_recovered():
    rng = np.random.default_rng(3)
    n = 5000
    v = rng.normal(size=n)
    x = 0.5 * v + rng.normal(size=n)
    u = 0.4 * v + 0.3 * x + rng.normal(size=n)
    y = 0.6 * u - 0.2 * x + rng.normal(size=n)
    df = pd.DataFrame(dict(V=v, X=x, U=u, Y=y))
    fit = CausalFlow("X ~ V; U ~ V + X; Y ~ U + X", df).fit(epochs=40, seed=0, verbose=False)
    truth = {"X": ([("V")], [0.5]), "U": (["V", "X"], [0.4, 0.3]), "Y": (["U", "X"], [0.6, -0.2])}
    for node, (parents, slopes) in truth.items():
        with torch.no_grad():
            est = _conditional_mean_slopes(fit, node, list(parents), np.random.default_rng(0))
        assert np.all(np.abs(est - slopes) < 0.05), (node, est, slopes)


def test_ensemble_members_stop_on_their_own_and_leave_the_batch():
    # Each member goes through its own positive-weight rows, stops on its own validation loss
    # and then leaves the batched ensemble; its best epoch's weights are restored.
    from medflow.training import TrainSettings, train

    rng = np.random.default_rng(0)
    n = 600
    xv = rng.normal(size=n)
    yv = np.tanh(xv) + 0.5 * rng.normal(size=n)
    x = torch.as_tensor(np.column_stack([xv, yv]), dtype=torch.float64)
    mask = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    step = torch.zeros(2, dtype=torch.float64)
    counts = torch.as_tensor(rng.multinomial(n, np.full(n, 1 / n), size=3), dtype=torch.float64)
    weights = torch.cat([counts, torch.ones(1, n, dtype=torch.float64)])      # E = 4
    settings = TrainSettings(epochs=40, batch_size=128, lr=2e-2, patience=2)
    tr, va = np.arange(100, n), np.arange(100)
    start = NodeFlows(mask, ensemble=1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ens = NodeFlows.replicate(start, 4)
    hist = train(ens, x, step, tr, va, settings, torch.Generator().manual_seed(7), weights=weights,
                 verbose=False)
    assert ens.E == 4 and ens.w_out.shape[0] == 4
    best = hist.attrs["best_epochs"]
    stops = [b + settings.patience for b in best]
    assert len(set(stops)) > 1                       # the members did stop at different epochs
    assert len(hist) == max(stops)                   # the ensemble ran until its last member stopped
    assert hist["members"].iloc[0] == 4 and hist["members"].is_monotonic_decreasing
    # members still training in each epoch: those whose stop epoch has not passed
    expected = [sum(stop >= e for stop in stops) for e in hist["epoch"]]
    assert hist["members"].tolist() == expected
    # every member moved from the common start, each to its own weights
    assert all(not torch.equal(ens.w_out[k], start.w_out[0]) for k in range(4))
    assert not torch.equal(ens.w_out[0], ens.w_out[3])


def test_weight_average_is_kept_only_where_it_fits_the_held_out_rows_better():
    # TrainSettings.average: averaging does not change the trajectory (same history, same
    # randomness); a member keeps its averaged weights only where they fit its held-out rows
    # better than its best epoch, and otherwise has exactly its best epoch's weights.
    from medflow.training import TrainSettings, _nll, train

    rng = np.random.default_rng(3)
    n = 6000
    xv = rng.normal(size=n)
    yv = np.tanh(2 * xv) + 0.5 * rng.standard_t(5, size=n)
    x = torch.as_tensor(np.column_stack([xv, yv]), dtype=torch.float64)
    mask = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    step = torch.zeros(2, dtype=torch.float64)
    folds = np.arange(n) % 6                        # member k holds out fold k
    train_w = torch.as_tensor((folds[None] != np.arange(6)[:, None]).astype(float))
    rows = np.arange(n)
    fits, hists = [], []
    for share in (0.0, 0.5):
        ens = NodeFlows(mask, ensemble=6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        settings = TrainSettings(epochs=8, batch_size=512, lr=3e-2, patience=8, average=share)
        hists.append(train(ens, x, step, rows, rows, settings, torch.Generator().manual_seed(7),
                           weights=train_w, val_weights=1 - train_w, verbose=False))
        fits.append(ens)
    pd.testing.assert_frame_equal(hists[0], hists[1])
    assert hists[0].attrs["averaged"] == [False] * 6
    averaged = torch.tensor(hists[1].attrs["averaged"])
    assert 0 < int(averaged.sum()) < 6, averaged  # both outcomes occur here
    with torch.no_grad():
        xe, w = x.expand(6, -1, -1), 1 - train_w
        nll = [(_nll(f, xe, torch.zeros_like(xe), step) * w).sum(1) / w.sum(1) for f in fits]
    assert bool((nll[1][averaged] < nll[0][averaged]).all())
    for k in torch.nonzero(~averaged).flatten().tolist():
        for name, value in fits[0].state_dict().items():
            if name != "mask":
                assert torch.equal(value[k], fits[1].state_dict()[name][k]), (k, name)
    with pytest.raises(ValueError, match=r"average must be a share of the epochs in \[0, 1\], got 1.5"):
        TrainSettings(average=1.5)


# ------------------------------------------------------------------ conditioner input map
def test_input_map_is_piecewise_linear_and_constant_beyond_the_knots():
    from medflow.flow import normal_scores

    m = normal_scores(np.array([[0.0, 2.0], [1.0, 2.0], [1.0, 2.0], [5.0, 2.0]]))
    assert m["knots"] == [[0.0, 1.0, 5.0], [2.0]]
    # mid-ranks 1/8, 4/8, 7/8 and, for the constant column, 1/2
    np.testing.assert_allclose(m["scores"][0], [-1.150349, 0.0, 1.150349], atol=1e-6)
    assert m["scores"][1] == [0.0]
    mask = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    f = NodeFlows(mask, dtype=torch.float64, input_map=m, inputs="normal_scores")
    x = torch.tensor([[-3.0, 0.0], [0.5, 9.0], [3.0, 2.0], [10.0, -1.0]], dtype=torch.float64)
    s = 1.150349
    scores = [[-s, 0.0], [-s / 2, 0.0], [s / 2, 0.0], [s, 0.0]]
    np.testing.assert_allclose(f.features(x[None]).squeeze(0).numpy(), scores, atol=1e-6)
    # the default reads the standardized values and the scores, side by side
    both = NodeFlows(mask, dtype=torch.float64, input_map=m)
    assert both.w_in.shape == (1, 2, 4, 16)
    np.testing.assert_allclose(both.features(x[None]).squeeze(0).numpy(),
                               np.hstack([x.numpy(), scores]), atol=1e-6)
    assert torch.equal(NodeFlows(mask, dtype=torch.float64, inputs="normal_scores").features(x), x)  # no map
    assert torch.equal(NodeFlows(mask, dtype=torch.float64, inputs="standardized", input_map=None).features(x), x)
    # evenly spaced ranks of a many-valued column, always including the extremes
    big = normal_scores(np.arange(1000.0)[:, None], max_knots=10)["knots"][0]
    assert len(big) == 10 and big[0] == 0.0 and big[-1] == 999.0
    with pytest.raises(ValueError, match="inputs must be 'both'"):
        FlowConfig(inputs="ranks")
    with pytest.raises(ValueError, match="inputs='standardized' reads no normal scores"):
        FlowConfig(inputs="standardized", input_map=m)
    with pytest.raises(ValueError, match="input_map knots of variable 0 must be strictly increasing"):
        NodeFlows(mask, input_map=dict(knots=[[1.0, 0.0], [0.0]], scores=[[0.0, 1.0], [0.0]]))


@pytest.mark.filterwarnings("ignore:The flow may not have converged")
def test_fit_records_its_input_map_and_a_saved_model_without_one_reads_standardized_inputs(tmp_path):
    import json

    import medflow as mf
    from medflow.model import _checksum

    rng = np.random.default_rng(3)
    x = np.floor(np.exp(rng.normal(3.0, 0.7, 400)))
    y = np.log1p(x) + rng.normal(0, 0.5, 400)
    data = pd.DataFrame({"X": x, "Y": y})
    fit = CausalFlow("Y ~ X", data).fit(seed=0, epochs=3, verbose=False)
    cfg = fit.config
    assert cfg["inputs"] == "both" and len(cfg["input_map"]["knots"]) == 2
    assert "read the parents' standardized values and normal scores" in fit.summary()
    assert len(cfg["input_map"]["knots"][0]) <= 64
    std = CausalFlow("Y ~ X", data, inputs="standardized").fit(seed=0, epochs=3, verbose=False)
    assert std.config["input_map"] is None
    te = std.effects("X", "Y", verbose=False).table["estimate"].iloc[0]
    # a folder written before the map existed: no "inputs" in its config
    path = std.save(tmp_path / "old")
    meta = json.loads((path / "model.json").read_text())
    del meta["config"]["inputs"], meta["config"]["input_map"]
    meta.pop("checksum")
    meta["checksum"] = _checksum((path / "weights.pt").read_bytes(), meta)
    (path / "model.json").write_text(json.dumps(meta))
    old = mf.load(path)
    assert old.config["inputs"] == "standardized" and old.config["input_map"] is None
    assert old.effects("X", "Y", data=data, verbose=False).table["estimate"].iloc[0] == pytest.approx(te, abs=1e-12)
    again = mf.load(fit.save(tmp_path / "new"))
    assert again.config["input_map"] == cfg["input_map"]


@pytest.mark.parametrize("scale", [0.3, 3.0, 30.0])
def test_spline_knots_and_maps_are_zukos(scale):
    from zuko.transforms import MonotonicRQSTransform

    from medflow.flow import Spline

    g = torch.Generator().manual_seed(1)
    p = torch.randn(4, 200, 23, generator=g, dtype=torch.float64) * scale
    args = (p[..., :8], p[..., 8:16], p[..., 16:])
    ours, zukos = Spline(*args, bound=5.0), MonotonicRQSTransform(*args, bound=5.0)
    for name in ("horizontal", "vertical", "derivatives"):
        assert getattr(ours, name).shape == getattr(zukos, name).shape
        torch.testing.assert_close(getattr(ours, name), getattr(zukos, name), rtol=1e-12, atol=1e-12)
    x = torch.randn(4, 200, generator=g, dtype=torch.float64) * 4   # some beyond the bound of 5
    y, ladj = ours.call_and_ladj(x)
    y_z, ladj_z = zukos.call_and_ladj(x)
    torch.testing.assert_close(y, y_z, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ladj, ladj_z, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.inv(y), zukos.inv(y), rtol=1e-5, atol=1e-5)   # ill-conditioned root
    torch.testing.assert_close(ours.inv(y), x, rtol=1e-5, atol=1e-5)


def test_spline_gradients_are_zukos():
    from zuko.transforms import MonotonicRQSTransform

    from medflow.flow import Spline

    g = torch.Generator().manual_seed(2)
    x = torch.randn(50, generator=g, dtype=torch.float64) * 3
    grads = []
    for cls in (Spline, MonotonicRQSTransform):
        p = (torch.randn(50, 23, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
             .requires_grad_())
        y, ladj = cls(p[:, :8], p[:, 8:16], p[:, 16:]).call_and_ladj(x)
        (y.sum() + ladj.sum()).backward()
        grads.append(p.grad)
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-10)
