"""Running beyond one process: joblib backends for the bootstrap chunks and the validation study,
and the CUDA device (skipped without a GPU).

The bootstrap splits its replicates into ``chunks`` ensembles that go through
``joblib.Parallel``; each chunk is seeded from (seed, chunk number) only, so the numbers
must not depend on where a chunk runs: sequentially, in local worker processes (loky),
in threads, or on a Dask/Ray cluster (the same joblib contract; see benchmarks/README.md).
"""

import os

import numpy as np
import pandas as pd
import pytest
import torch
from joblib import parallel_config

import medflow as mf
from medflow.bootstrap import bootstrap_ensemble



def small_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    m = np.tanh(x) + 0.5 * rng.normal(size=n)
    y = 0.5 * x + m + 0.2 * x * m + 0.5 * rng.normal(size=n)
    return pd.DataFrame({"X": x, "M": m, "Y": y})


@pytest.fixture(scope="module")
def fit():
    # the bootstrap repeats the fit's settings: short here
    return mf.CausalFlow("M ~ X; Y ~ X + M", small_data()).fit(epochs=2, batch_size=128, seed=3,
                                                                linear_nodes="none", verbose=False)


def _fresh_bootstrap(fit, **options):
    """A bootstrap that bypasses the per-fit cache (its key does not include n_jobs)."""
    fit.__dict__.pop("_bootstrap_cache", None)
    return bootstrap_ensemble(fit, 4, seed=11, verbose=False, **options)


def _assert_same_flow(a, b):
    assert a.E == b.E == 8  # the 4 replicates, 2 members each (below 5,000 rows)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name


def _boot_effects(fit, n_jobs):
    """Bootstrap effects with 2 chunks on ``n_jobs`` workers; returns the result and the ensemble."""
    fit.__dict__.pop("_bootstrap_cache", None)  # its key does not include n_jobs
    res = fit.effects("X", "Y", mediators=["M"], a=1.0, a_ref=0.0, n_boot=4, seed=5, verbose=False,
                      boot_options={"chunks": 2, "n_jobs": n_jobs})
    (ensemble, weights), = fit._bootstrap_cache.values()
    return res, ensemble, weights


def test_bootstrap_chunks_in_local_processes_equal_sequential(fit):
    r_seq, e_seq, w_seq = _boot_effects(fit, n_jobs=1)
    r_par, e_par, w_par = _boot_effects(fit, n_jobs=2)  # joblib's default backend: loky processes
    assert torch.equal(w_seq, w_par)
    _assert_same_flow(e_seq, e_par)
    pd.testing.assert_frame_equal(r_seq.draws, r_par.draws)
    pd.testing.assert_frame_equal(r_seq.conf_int(), r_par.conf_int())
    assert r_seq.draws.shape == (4, 5)
    # the members really differ (the comparison is not vacuous)
    assert not torch.equal(e_seq.w_out[0], e_seq.w_out[3])
    assert r_seq.draws["TE"].std() > 0


def test_bootstrap_chunks_follow_the_active_joblib_backend(fit):
    seq, _ = _fresh_bootstrap(fit, chunks=2, n_jobs=1)
    with parallel_config(backend="threading", n_jobs=2):
        thr, _ = _fresh_bootstrap(fit, chunks=2)
    _assert_same_flow(seq, thr)


def test_validation_replications_in_local_processes_equal_sequential():
    from medflow.validation import run_study

    kw = dict(reps=2, epochs=2, seed=1)
    seq = run_study(["linear"], [200], n_jobs=1, **kw)
    par = run_study(["linear"], [200], n_jobs=2, **kw)
    cols = [c for c in seq.columns if c != "seconds"]
    assert len(seq) == 2 * 2 * 9 * 2  # reps x methods x effects x interval levels
    pd.testing.assert_frame_equal(seq[cols], par[cols])
    flow = seq[seq["label"] == "TE"]["estimate"].to_numpy()
    assert np.isfinite(flow).all() and len(set(np.round(flow, 12))) > 1


# ---------------------------------------------------------------------------- Dask
def _import_distributed():
    """dask.distributed, a test extra (``pip install -e ".[test,dask]"``, which scripts/test.sh
    runs); skipped where it is missing, except in CI, where a missing install must fail."""
    if os.environ.get("CI"):
        import distributed
        return distributed
    return pytest.importorskip("distributed", reason="dask.distributed is not installed (the 'dask' "
                                                      "test extra: pip install -e '.[test,dask]')")


@pytest.mark.slow
def test_bootstrap_on_a_dask_cluster_equals_sequential(fit, monkeypatch):
    """The README's "More than one machine" snippet on a local Dask cluster: joblib's Dask
    backend sends the bootstrap chunks to 2 worker processes (1 thread each) and the
    replicates, draws and intervals equal the sequential run's."""
    _import_distributed()
    from dask.distributed import Client, LocalCluster, get_task_stream

    # An embedded R (rpy2, loaded by the lavaan tests) leaves R's library folders in
    # LD_LIBRARY_PATH; a worker process started with them loads the wrong libpython.
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)

    r_seq, e_seq, w_seq = _boot_effects(fit, n_jobs=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        with parallel_config(backend="dask"), get_task_stream(client) as stream:
            fit.__dict__.pop("_bootstrap_cache", None)
            r_dask = fit.effects("X", "Y", mediators=["M"], a=1.0, a_ref=0.0, n_boot=4, seed=5, verbose=False,
                                 boot_options={"chunks": 2})   # n_jobs unset: the backend decides
    (e_dask, w_dask), = fit._bootstrap_cache.values()
    assert len(stream.data) >= 2          # the chunks really ran as tasks on the cluster
    assert torch.equal(w_seq, w_dask)
    _assert_same_flow(e_seq, e_dask)
    pd.testing.assert_frame_equal(r_seq.draws, r_dask.draws)
    pd.testing.assert_frame_equal(r_seq.conf_int(), r_dask.conf_int())
    assert r_seq.draws["TE"].std() > 0


# ---------------------------------------------------------------------------- CUDA
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                   reason="CUDA tests need a GPU: torch.cuda.is_available() is False")


@requires_cuda
def test_cuda_fit_matches_cpu_semantics():
    df = small_data(2000, seed=4)
    gpu = mf.CausalFlow("M ~ X; Y ~ X + M", df).fit(epochs=20, seed=0, device="cuda", verbose=False)
    cpu = mf.CausalFlow("M ~ X; Y ~ X + M", df).fit(epochs=20, seed=0, device="cpu", verbose=False)
    assert gpu.history["val_nll"].notna().all()
    # the fitted model answers on the CPU and fits the data about as well as the CPU fit
    assert np.mean(gpu.log_prob(df)) == pytest.approx(np.mean(cpu.log_prob(df)), abs=0.05)
    te_gpu = float(gpu.effects("X", "Y", a=1.0, a_ref=0.0).params["TE"])
    te_cpu = float(cpu.effects("X", "Y", a=1.0, a_ref=0.0).params["TE"])
    assert te_gpu == pytest.approx(te_cpu, abs=0.1)


@requires_cuda
def test_cuda_batched_bootstrap():
    df = small_data(1000, seed=5)
    fit = mf.CausalFlow("M ~ X; Y ~ X + M", df).fit(epochs=10, seed=0, device="cuda", verbose=False)
    torch.cuda.reset_peak_memory_stats()
    res = fit.effects("X", "Y", mediators=["M"], a=1.0, a_ref=0.0, n_boot=8, seed=0, verbose=False)
    assert res.draws.shape == (8, 5)
    ci = res.conf_int()
    assert (ci.iloc[:, 0] <= ci.iloc[:, 1]).all()
    assert res.draws["TE"].std() > 0
    # the replicates were trained on the GPU, not silently on the CPU
    assert torch.cuda.max_memory_allocated() > 0
