import subprocess
import sys
from pathlib import Path

import pytest

from hwsim.engine.results import read_results
from hwsim.engine.sweep import parse_config

ROOT = Path(__file__).resolve().parents[1]


def cfg(**source):
    return {"study": "link", "seed": 1, "source": {"type": "pilots", **source}, "receiver": {"type": "thm3"},
            "metric": {"type": "mse"}, "grid": {"rate": [1.0]}, "curves": [{"name": "thm3"}]}


@pytest.mark.parametrize("mutate, match", [
    (lambda c: c["grid"].update(rate=[0.2]), "at least 2 levels"),
    (lambda c: c["source"].update(P=0.0), "source.P must be > 0"),
    (lambda c: c["source"].update(tau_p=3), "tau_p must be >= source.users"),
    (lambda c: c["receiver"].update(eta=14.0), "eta must be < sqrt"),
    (lambda c: c["receiver"].update(dither="subtractive"), "receiver.dither must be a boolean"),
    (lambda c: c["curves"].append({"name": "b", "receiver": "blmmse"}), "is for detection; receiver types for "
                                                                          "estimation: .*blmmse_estimator"),
    (lambda c: c["metric"].update(type="ber"), "metric types for estimation: mse"),
    (lambda c: c["grid"].update(snr_db=[3.0]), "snr_db does not apply"),
])
def test_estimation_configs_are_validated(mutate, match):
    c = cfg()
    mutate(c)
    with pytest.raises(ValueError, match=match):
        parse_config(c)


def test_fig5_quick_reproduces_the_orderings(tmp_path):
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "sweep", "fig5", "--quick", "--quiet", "--out",
                        str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rows = read_results(tmp_path / "results.csv")
    mse = {(row["curve"], float(row["rate"])): float(row["mse"]) for row in rows}
    ci = {(row["curve"], float(row["rate"])): (float(row["ci_low"]), float(row["ci_high"])) for row in rows}
    for rate in (0.3334, 0.6667, 1.0):
        assert mse["MMSE", rate] < mse["eta_opt (eq. 7)", rate] < mse["soft-to-hard", rate]
        # the learned estimator beats the model-based scalar design (seed 001 Sec. 4.1)
        assert mse["soft-to-hard", rate] < mse["eta_sc theory (Thm 3)", rate]
        assert mse["soft-to-hard", rate] < mse["eta_sc, plain ADC", rate] * 1.05
        # under SNR uncertainty it performs like eta_sc with a noisy SNR estimate (within 25%)
        assert mse["soft-to-hard, SNR uncertainty", rate] < 1.25 * mse["eta_sc, noisy SNR", rate]
    assert max(mse["soft-to-hard", 1.0], mse["soft-to-hard, SNR uncertainty", 1.0]) < mse["BLMMSE", 1.0]
    lo, hi = ci["BLMMSE", 1.0]  # the arcsine law is exact: the theory lies within the 99.9% interval (1.68x the 95% one)
    assert abs(mse["BLMMSE theory", 1.0] - mse["BLMMSE", 1.0]) <= 1.68 * (hi - lo) / 2
    # the noisy-SNR design: one SNR estimate per group of 64 realizations, the group is the interval's unit
    noisy = [row for row in rows if row["curve"] == "eta_sc, noisy SNR"]
    assert {(row["interval"], row["clusters"]) for row in noisy} == {("t (clustered)", str(1024 // 64))}
    assert (tmp_path / "plot.png").exists()
