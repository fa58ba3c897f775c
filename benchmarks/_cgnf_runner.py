"""Run cGNF 1.0.0 on one data set; executed by ``cgnf_compare.py`` with cGNF's own virtualenv.

This file only *calls* cGNF's public functions (``process``, ``train``, ``sim``) and the
model object that ``train`` saves; it contains none of cGNF's code and does not import
medflow. cGNF passes everything through files on disk, so the job is described by a JSON
file and the answer is written back to it::

    .venv-cgnf/bin/python _cgnf_runner.py job.json

Job keys: ``workdir`` (holds ``<dataset>.csv`` and ``<dag>.csv``), ``dataset``, ``dag``,
``test_csv`` (held-out rows), ``seed``, ``epochs`` (cap on cGNF's ``nb_epoch``),
``n_mce`` (cGNF's ``n_mce_samples``), ``a``, ``a_ref``, ``treatment``, ``outcome``,
``mediators`` (one ``sim`` call per mediator), ``threads``, ``train_args`` (overrides of
cGNF's defaults; empty = its documented defaults).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import sys
import time


def _clock():
    return time.perf_counter(), time.process_time()


def _since(t):
    w, c = _clock()
    return w - t[0], c - t[1]


def main(path: str) -> None:
    job = json.loads(open(path).read())
    import numpy as np
    import pandas as pd
    import torch

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    import cGNF

    work = job["workdir"].rstrip("/") + "/"
    out: dict = dict(cgnf_version=_version(), torch=torch.__version__, threads=torch.get_num_threads())
    log = open(os.path.join(work, "cgnf_stdout.log"), "w", buffering=1)
    with contextlib.redirect_stdout(log):
        t = _clock()
        cGNF.process(path=work, dataset_name=job["dataset"], dag_name=job["dag"], seed=job["seed"])
        out["process_s"], out["process_cpu_s"] = _since(t)

        t = _clock()
        train_args = dict(nb_epoch=int(job["epochs"]), seed=job["seed"], **job.get("train_args", {}))
        model, data = cGNF.train(path=work, dataset_name=job["dataset"], model_name="models", **train_args)
        out["train_s"], out["train_cpu_s"] = _since(t)

    val = pd.read_csv(os.path.join(work, "models", "val_log_likelihoods.csv"))
    out["epochs_run"] = int(len(val))
    out["best_val_ll_std"] = float(val["val_log_likelihood"].max())

    # Held-out NLL of the best model (the one sim() uses), in the data's original units:
    # cGNF's density is on its standardized scale, so add sum(log sigma) back.
    best = torch.load(os.path.join(work, "models", "_best_model.pt"), map_location="cpu", weights_only=False)
    best.eval()
    for normalizer in best.getNormalizers():
        normalizer.nb_steps = 70  # the number of integration steps cGNF uses for its validation loss
    test = pd.read_csv(job["test_csv"])[list(data["df_all_columns"])]
    with torch.no_grad():
        x = torch.tensor(test.to_numpy(), dtype=torch.float32)
        lls = []
        for chunk in torch.split(x, 4096):
            z, jac = best(chunk)
            lls.append((best.z_log_density(z) + jac).double())
        ll_std = torch.cat(lls)
    out["heldout_nll_std"] = float(-ll_std.mean())
    out["heldout_nll"] = float(-ll_std.mean() + np.log(np.asarray(data["sig"], dtype=float)).sum())

    # Effects: one sim() per mediator; cGNF's rows are E[Y(a_ref)], E[Y(a)],
    # E[Y(a_ref, M(a))], E[Y(a, M(a_ref))] for cat_list = [a_ref, a].
    out["effects"], out["sim_s"], out["sim_cpu_s"] = {}, 0.0, 0.0
    for m in job["mediators"]:
        t = _clock()
        with contextlib.redirect_stdout(log):
            res = cGNF.sim(path=work, dataset_name=job["dataset"], model_name="models",
                           n_mce_samples=int(job["n_mce"]), seed=job["seed"], treatment=job["treatment"],
                           cat_list=[job["a_ref"], job["a"]], mediator=[m], outcome=job["outcome"],
                           inv_datafile_name=f"po_{m}")
        w, c = _since(t)
        out["sim_s"] += w
        out["sim_cpu_s"] += c
        vals = res["Value"].astype(float).to_numpy()
        y_ref, y_a, _, y_cross = vals[:4]
        out["effects"]["TE"] = float(y_a - y_ref)
        out["effects"][f"NDE via {m}"] = float(y_cross - y_ref)
        out["effects"][f"NIE via {m}"] = float(y_a - y_cross)
        out.setdefault("sim_rows", {})[m] = res.to_dict(orient="list")
    log.close()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}
    with open(path, "w") as fh:
        json.dump(out, fh)


def _version() -> str:
    from importlib.metadata import version

    return version("cGNF")


if __name__ == "__main__":
    main(sys.argv[1])
