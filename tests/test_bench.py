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
