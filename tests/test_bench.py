"""`dgp-studio bench` on a tiny random model: the table and the JSON agree, ratios are the ratios.

Speed itself is never asserted (numbers depend on the machine); only that what is printed
and saved is computed from the runs it reports."""
import json

import pytest

from dgp_studio.cli.main import main


def test_bench_prints_table_and_writes_consistent_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["bench", "--random", "32x8", "--preset", "colorization", "--iters-scale", "0.01",
               "--select-num", "4", "--threads", "1", "--manip", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "engine bench: model random-32x8 (32 px, G_ch 8, D_ch 8)" in text
    for col in ("search s", "st1 ms/it", "total s", "peak MiB", "fit dB"):
        assert col in text
    d = json.loads(out.read_text())
    rows = {r["mode"]: r for r in d["rows"]}
    assert set(rows) == {"exact", "fast"}
    s = d["summary"][0]
    assert s["speedup_total"] == pytest.approx(rows["exact"]["total_s"] / rows["fast"]["total_s"])
    assert s["speedup_search"] == pytest.approx(rows["exact"]["search_s"] / rows["fast"]["search_s"])
    n_stages = 5  # the colorization preset
    assert len(rows["fast"]["stage_ms"]) == n_stages == len(s["speedup_stages"])
    for r in rows.values():
        # a run's total covers its search and its optimisation
        assert r["total_s"] >= r["search_s"] + r["optimise_s"] - 1e-6
        assert r["peak_mib"] >= 0 and r["psnr_fit"] > 0
    assert f"x{s['speedup_total']:.2f} (wall)" in text
    m = d["manipulations"]
    assert set(m) == {"jitter_8", "morph_frame"} and all(v["wall_ms"] > 0 for v in m.values())
    assert f"jitter_8 {m['jitter_8']['wall_ms']:.0f} ms wall" in text


def test_bench_rejects_unknown_mode_and_bad_model_spec(capsys):
    assert main(["bench", "--random", "32x8", "--modes", "exact,turbo"]) != 0
    assert "--modes" in capsys.readouterr().err
    assert main(["bench", "--random", "banana"]) != 0
    assert capsys.readouterr().err.strip()


def test_reference_mode_is_the_exact_result_with_the_releases_extra_work(monkeypatch):
    """reference = exact + D(x_hat) and D's spectral norms redone every iteration: the same numbers
    (bit for bit), and the extra work really happens (D sees the target at every iteration)."""
    from dataclasses import replace

    import torch

    from dgp_studio.core import presets
    from dgp_studio.core.benchmark import make_input, run_once, summarize
    from dgp_studio.core.biggan import build_biggan
    from conftest import tiny_config
    gan = build_biggan(tiny_config(), seed=0)
    p = replace(presets.get("colorization"), iterations=(2, 2, 2, 2, 2), select_num=4)
    _, deg, obs = make_input(gan, p.task)
    calls = []
    real_forward = type(gan.D).forward

    def counting_forward(self, x, y=None):
        calls.append(x.shape[0])
        return real_forward(self, x, y)
    monkeypatch.setattr(type(gan.D), "forward", counting_forward)
    sn_calls = []
    layer = gan.D.blocks[0][0].conv1
    real_sn = type(layer).sn_weight

    def counting_sn(self):
        if self is layer:
            sn_calls.append(self._frozen_weight is None)
        return real_sn(self)
    monkeypatch.setattr(type(layer), "sn_weight", counting_sn)
    rows = {}
    for mode in ("exact", "reference"):
        calls.clear(), sn_calls.clear()
        rows[mode] = run_once(gan, p, deg, obs, mode)
        rows[mode]["d_calls"], rows[mode]["sn_fresh"] = len(calls), sum(sn_calls)
    a, b = rows["exact"]["result"], rows["reference"]["result"]
    assert torch.equal(a.image, b.image) and torch.equal(a.z, b.z)
    steps = p.total_iterations
    # exact: the search batch(es) + the target once + one D(x) per iteration; reference: + D(x_hat) each time
    assert rows["reference"]["d_calls"] == rows["exact"]["d_calls"] + steps
    assert rows["exact"]["sn_fresh"] <= 1 < steps <= rows["reference"]["sn_fresh"]
    for r in rows.values():
        r.pop("result")
        r["preset"] = p.name
    fast = dict(rows["exact"], mode="fast", total_s=1.0)
    s = {x["baseline"]: x for x in summarize([rows["exact"], rows["reference"], fast])}
    assert s["reference"]["speedup_total"] == pytest.approx(rows["reference"]["total_s"] / 1.0)
    assert s["exact"]["speedup_total"] == pytest.approx(rows["exact"]["total_s"] / 1.0)
