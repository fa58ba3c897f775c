"""How the flow's log-likelihood given up (FairFit.loglik_lost) depends on the L-BFGS budget
(steps per round) on the GSS example of fair_gss.py. Prints steps, seconds, PSE after,
loglik_lost, loglik_before, loglik_after, rounds.

    PYTHONPATH=python nice -n 5 /work/main/.venv/bin/python benchmarks/fair_gss_convergence.py
"""
import torch, time; torch.set_num_threads(1)
import pandas as pd, medflow as mf
raw = pd.read_csv("/work/shared/data/gss_men_2006_2010.csv")
data = raw[raw["race"].isin([1, 2])].assign(black=lambda d: (d["race"] == 2).astype(int))[["black","age","educ","sei10"]].reset_index(drop=True)
MODEL = "educ ~ black + age; sei10 ~ black + educ + age"
fit = mf.CausalFlow(MODEL, data, continuous=["sei10"]).fit(seed=0, verbose=False)
for steps in (40, 150):
    t=time.time(); r = mf.fair(fit, "black", "sei10", paths=["black -> sei10"], bounds=(-0.5, 0.5), steps=steps)
    print(steps, round(time.time()-t), r.pse_after, r.loglik_lost, r.loglik_before, r.loglik_after, len(r.history), flush=True)
