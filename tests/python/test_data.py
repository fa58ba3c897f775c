"""Input checks and encoding: one clear error per problem, nothing dropped silently."""

import numpy as np
import pandas as pd
import pytest

from medflow import CausalFlow
from medflow.dag import DAG
from medflow.data import prepare

G = DAG.from_syntax("M ~ X; Y ~ X + M")


def frame(n=100, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"X": rng.integers(0, 2, n), "M": rng.normal(size=n),
                         "Y": rng.normal(size=n), "other": ["a"] * n})


def test_types_and_overrides():
    enc, clean = prepare(G, frame())
    assert enc.variables == ("X", "M", "Y") and enc.discrete == ("X",)
    assert list(clean.columns) == ["X", "M", "Y"]          # unused column ignored
    enc2, _ = prepare(G, frame(), continuous=["X"])
    assert enc2.discrete == ()
    with pytest.raises(ValueError, match=r"^discrete= names M, which has 200 distinct values that do "
                                         r"not lie on an equally spaced grid \(such as 0, 1, 2 or "
                                         r"-0.5, 0.5\); at most 100 such values can be mapped to levels\."):
        prepare(G, frame(n=200), discrete=["M"])
    with pytest.raises(ValueError, match="continuous= names Z, which are not model variables"):
        prepare(G, frame(), continuous=["Z"])


def test_standardization_round_trip():
    enc, clean = prepare(G, frame())
    z = enc.standardize(clean.to_numpy())
    assert np.allclose(enc.destandardize(z), clean.to_numpy())
    assert abs(z[:, 1].mean()) < 1e-12 and abs(z[:, 1].std() - 1) < 1e-12


def test_missing_values_error_and_drop():
    df = frame()
    df.loc[[1, 2], "M"] = np.nan
    df.loc[5, "Y"] = np.nan
    with pytest.raises(ValueError, match=r"missing values \(M: 2, Y: 1\).*missing='drop'"):
        prepare(G, df)
    with pytest.warns(UserWarning, match=r"Dropped 3 of 100 rows with missing values \(M: 2, Y: 1\)"):
        _, clean = prepare(G, df, missing="drop")
    assert len(clean) == 97


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.drop(columns="M"), r"The model variable\(s\) M are not columns of the data"),
    (lambda d: d.assign(M="x"), r"Model variables must be numeric; not numeric: M \(object|str"),
    (lambda d: d.assign(Y=np.where(np.arange(100) == 3, np.inf, 0.5 + np.arange(100))),
     r"The data have non-finite values \(Y: 1\)"),
    (lambda d: d.assign(M=1.5), r"The column\(s\) M are constant"),
    (lambda d: d.iloc[:30], r"The data have 30 complete rows; a flow needs at least 50"),
])
def test_bad_data(mutate, message):
    with pytest.raises(ValueError, match=message):
        prepare(G, mutate(frame()))


def test_model_variable_missing_from_data_through_the_model_api():
    with pytest.raises(ValueError, match=r"The model variable\(s\) Z are not columns of the data"):
        CausalFlow("Y ~ X + Z", frame())


# ------------------------------------------------------------------ few-valued variables
def test_few_valued_variables_are_discrete_whatever_their_coding():
    df = frame()
    recoded = df.assign(X=df["X"] - 0.5, Y=np.round(df["Y"], 1))
    enc, _ = prepare(G, recoded)
    assert enc.discrete == ("X", "Y")                    # -0.5/0.5 and a 0.1 grid
    assert enc.step[0] == 1.0 and enc.lower[0] == -0.5 and abs(enc.step[2] - 0.1) < 1e-12
    z = df.assign(X=(df["X"] - df["X"].mean()) / df["X"].std())
    enc_z, _ = prepare(G, z)
    enc_01, _ = prepare(G, df)
    assert enc_z.discrete == enc_01.discrete == ("X",)
    # the z-scored and the 0/1 coding give the same flow-scale data and the same grid
    assert np.allclose(enc_z.standardize(z[["X", "M", "Y"]].to_numpy()),
                       enc_01.standardize(df[["X", "M", "Y"]].to_numpy()), atol=1e-12)
    assert np.isclose(enc_z.step[0] / enc_z.scale[0], enc_01.step[0] / enc_01.scale[0])
    # discrete= accepts a non-integer grid; the few-valued rule is affine invariant
    enc2, _ = prepare(G, recoded, discrete=["X"], continuous=["Y"])
    assert enc2.discrete == ("X",)
    wide = df.assign(Y=np.round(df["Y"] * 1e4))          # integers on ~60,000 grid points
    assert prepare(G, wide)[0].discrete == ("X",)
    assert prepare(G, wide.assign(Y=wide["Y"] * 100 + 3e6))[0].discrete == ("X",)


def test_find_grid():
    from medflow.data import find_grid
    assert find_grid(np.array([0.0, 2.0, 3.0])) == 1.0
    assert find_grid((np.arange(9) - 4.1) / 2.7) == pytest.approx(1 / 2.7)
    assert find_grid(np.random.default_rng(0).normal(size=50)) is None
    assert find_grid(np.array([1.0, 1.0])) is None


# ------------------------------------------------------------------ duplicated, empty, extreme
def test_duplicated_and_empty_data():
    df = frame()
    dup = pd.concat([df, df[["M"]]], axis=1)
    with pytest.raises(ValueError, match=r"^The data have more than one column named M; rename or "
                                         r"drop the duplicates"):
        prepare(G, dup)
    with pytest.raises(ValueError, match=r"^The data have no rows\.$"):
        prepare(G, df.iloc[:0])


def test_extreme_values_warn_naming_the_column():
    from medflow.data import ExtremeValueWarning
    df = frame()
    df.loc[[3, 7, 9], "Y"] = [1e6, -1e6, 1e6]
    with pytest.warns(ExtremeValueWarning, match=r"^The variable Y has 3 extreme value\(s\), up to "
                                                 r"7\.\d+e\+05 interquartile ranges from its median"):
        prepare(G, df)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare(G, frame(n=5000))                        # normal data: no warning


def test_few_off_grid_values_are_discrete_with_mapped_levels():
    df = frame()
    odd = df.assign(M=np.array([0.0, 1.0, 3.71])[np.arange(100) % 3])
    enc, _ = prepare(G, odd)
    assert enc.discrete == ("X", "M")
    assert enc.levels == ((), (0.0, 1.0, 3.71), ())
    assert enc.internal_grid("M") == (0.0, 1.0, 2.0) and enc.step[1] == 1.0
    # inside the flow M is its level 0, 1, 2: the same as the coding 0/1/2
    enc_012, _ = prepare(G, df.assign(M=np.arange(100) % 3))
    cols = ["X", "M", "Y"]
    assert np.allclose(enc.standardize(odd[cols].to_numpy()),
                       enc_012.standardize(df.assign(M=np.arange(100) % 3)[cols].to_numpy()), atol=1e-12)
    assert np.allclose(enc.destandardize(enc.standardize(odd[cols].to_numpy())), odd[cols].to_numpy())
    assert enc.off_grid(np.array([1.0, 3.71]), ["M"]) == [] and enc.off_grid(np.array([2.0]), ["M"]) == ["M"]
    assert enc.grid_text("M") == "the values 0, 1, 3.71"
    # a mostly empty grid ({0, 1, 3.7}: step 0.1, 38 points for 3 values) is mapped to levels too
    sparse, _ = prepare(G, df.assign(M=np.array([0.0, 1.0, 3.7])[np.arange(100) % 3]))
    assert sparse.levels[1] == (0.0, 1.0, 3.7)
    # a z-scored binary variable plus one odd value; discrete= accepts it and continuous= refuses it
    z = (df["X"] - df["X"].mean()) / df["X"].std()
    z.iloc[0] = 0.123456789
    enc_z, _ = prepare(G, df.assign(X=z))
    assert enc_z.discrete == ("X",) and len(enc_z.levels[0]) == 3
    assert prepare(G, df.assign(X=z), discrete=["X"])[0].levels[0] == enc_z.levels[0]
    assert prepare(G, odd, continuous=["M"])[0].discrete == ("X",)
    # a saved encoding round-trips its levels
    from medflow.data import Encoding
    assert Encoding.from_dict(enc.to_dict()) == enc
