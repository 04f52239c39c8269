"""Result cache: key, compact delta storage, memory/disk LRU, checksums, corruption handling."""
from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cache_fixtures import changed_names, fake_result, photo, real_result, tiny_config, tiny_gan
from dgp_studio.core import degradations, presets
from dgp_studio.core.cache import (CacheCorruptionWarning, CachedResult, CacheError, ResultCache, cache_key,
                                   estimate_entry_bytes, model_id, tuned_tensor_names)
from dgp_studio.core.fsutil import user_cache_dir
from dgp_studio.core.tensorfile import load_tensors


@pytest.fixture(scope="module")
def gan():
    return tiny_gan(0)


@pytest.fixture(scope="module")
def colorized(gan):
    """A real colorization run whose preset tunes groups 0..2 (of 4)."""
    p = dataclasses.replace(presets.get("colorization"), iterations=(6, 6, 6, 0, 0), ft_num=(1, 2, 3, 3, 3),
                            select_num=4)
    return real_result(gan, p, degradation=degradations.Colorization())


def _key(n: int) -> str:
    return f"{n:064x}"


def _tensor_file(folder: Path, key: str) -> Path:
    return next(folder.glob(f"{key}.*.safetensors"))


# -- key ------------------------------------------------------------------------------------------
def test_key_is_stable_and_depends_on_every_input(gan):
    img = photo(1)
    mask = np.ones((32, 32), np.float32)
    mask[8:16, 8:16] = 0
    p = presets.get("inpainting")
    base = dict(preset=p, seed=0, class_id=3, model=gan, degradation=degradations.Inpainting(mask),
                mask=mask, region=(10, 20, 300))
    k = cache_key(img, **base)
    assert len(k) == 64 and int(k, 16) >= 0
    assert cache_key(img.copy(), **base) == k
    assert cache_key(Image.fromarray(img), **base) == k          # PIL and array: the same pixels
    img2 = img.copy()
    img2[0, 0, 0] ^= 1
    mask2 = mask.copy()
    mask2[0, 0] = 0
    variants = [
        dict(image=img2),
        dict(mask=mask2, degradation=degradations.Inpainting(mask2)),
        dict(region=(10, 21, 300)),
        dict(preset=dataclasses.replace(p, w_nll=0.021)),
        dict(class_id=None), dict(class_id=2), dict(seed=1), dict(exact=True),
        dict(degradation=degradations.Colorization()),
        dict(model=tiny_gan(1)),
    ]
    keys = {k}
    for v in variants:
        args = dict(base, image=img)
        args.update(v)
        keys.add(cache_key(args.pop("image"), **args))
    assert len(keys) == len(variants) + 1
    # the description is not part of the computation
    assert cache_key(img, **dict(base, preset=dataclasses.replace(p, description="x"))) == k


def test_model_id_changes_when_weights_change():
    g = tiny_gan(0)
    a = model_id(g)
    assert model_id(g) == a and model_id(tiny_gan(0)) == a
    with torch.no_grad():
        g.G.blocks[0][0].conv1.weight[0, 0, 0, 0] += 1e-3
    assert model_id(g) != a


# -- storage format ---------------------------------------------------------------------------------
def test_roundtrip_stores_only_changed_tensors_as_fp16_deltas(gan, colorized, tmp_path):
    res = colorized
    key = _key(1)
    ResultCache(tmp_path).put(key, res, gan)
    folder = tmp_path / "results-v1"
    tensors, _ = load_tensors(_tensor_file(folder, key))
    stored = {k[len("delta/"):] for k in tensors if k.startswith("delta/")}
    changed = changed_names(res, gan)
    assert stored == changed and 0 < len(changed) < len(res.generator_state)
    assert all(tensors[f"delta/{n}"].dtype == torch.float16 for n in stored)
    assert tensors["img/target"].shape == (1, 1, 32, 32)           # colorization's gray target: 1 channel
    assert tensors["img/observed"].shape == (1, 3, 32, 32) and tensors["img/observed"].dtype == torch.uint8
    doc = json.loads((folder / f"{key}.json").read_text())
    assert doc["version"] == 1 and doc["format"] == "dgp-studio-result"

    out = ResultCache(tmp_path).get(key, gan)      # a fresh instance: read from disk
    base = gan.G.state_dict()
    for name, tuned in res.generator_state.items():
        got = out.generator_state[name]
        if name in changed:
            delta = (tuned - base[name]).abs()
            # fp16 keeps 11 significant bits of the difference
            assert torch.all((got - tuned).abs() <= delta * 2 ** -10 + 1e-7), name
        else:
            assert torch.equal(got, base[name]), name
    assert torch.equal(out.z, res.z) and torch.equal(out.class_embedding, res.class_embedding)
    assert out.class_id == res.class_id and out.seed == res.seed and out.task == res.task == "colorization"
    assert out.preset == res.preset and out.history == res.history and out.steps_done == res.steps_done
    assert torch.equal(out.observed, res.observed)     # came from 8-bit pixels: exact
    for n in ("image", "final", "target"):
        assert (getattr(out, n) - getattr(res, n)).abs().max() <= 1 / 127.5 / 2 + 1e-6, n


def test_tuned_tensor_names_and_size_estimate_match_a_real_run(gan, colorized, tmp_path):
    predicted = set(tuned_tensor_names(gan.G, colorized.preset))
    assert predicted == changed_names(colorized, gan)
    entry = CachedResult.from_result(colorized, gan, key=_key(2))
    measured_delta = sum(t.numel() * t.element_size() for k, t in entry.tensors.items() if k.startswith("delta/"))
    est = estimate_entry_bytes(tiny_config(), colorized.preset)
    assert est["delta_bytes"] == measured_delta
    jp, tp = entry.write(tmp_path, "e")
    on_disk = jp.stat().st_size + tp.stat().st_size
    assert on_disk <= est["total_bytes"] * 1.1           # the estimate is an upper bound (images deduplicated)
    assert est["full_fp32_state_bytes"] == sum(t.numel() * 4 for t in gan.G.state_dict().values())


def test_bf16_deltas_and_float_images(gan, tmp_path):
    res = fake_result(gan, 3)
    c = ResultCache(tmp_path, delta_dtype="bf16", image_dtype="float32")
    c.put(_key(3), res, gan)
    out = ResultCache(tmp_path, delta_dtype="bf16").get(_key(3), gan)
    tensors, _ = load_tensors(_tensor_file(tmp_path / "results-v1", _key(3)))
    assert {t.dtype for k, t in tensors.items() if k.startswith("delta/")} == {torch.bfloat16}
    assert torch.equal(out.image, res.image)             # float32 images: exact
    base = gan.G.state_dict()
    for n in changed_names(res, gan):
        d = (res.generator_state[n] - base[n]).abs()
        assert torch.all((out.generator_state[n] - res.generator_state[n]).abs() <= d * 2 ** -7 + 1e-7)


def test_memory_hit_equals_disk_hit_and_results_are_independent(gan, tmp_path):
    res = fake_result(gan, 4)
    c = ResultCache(tmp_path)
    c.put(_key(4), res, gan)
    a = c.get(_key(4), gan)
    b = ResultCache(tmp_path).get(_key(4), gan)
    assert c.stats["memory_hits"] == 1
    for k in a.generator_state:
        assert torch.equal(a.generator_state[k], b.generator_state[k])
    a.image.add_(1)                                       # a caller scribbling on its copy
    assert torch.equal(c.get(_key(4), gan).image, b.image)


def test_cancelled_results_are_not_cached_unless_asked(gan, tmp_path):
    res = dataclasses.replace(fake_result(gan, 5), cancelled=True)
    c = ResultCache(tmp_path)
    assert c.put(_key(5), res, gan) is None and _key(5) not in c
    assert c.put(_key(5), res, gan, allow_partial=True) is not None
    assert ResultCache(tmp_path).get(_key(5), gan).cancelled


def test_other_model_is_refused(gan, tmp_path):
    c = ResultCache(tmp_path)
    c.put(_key(6), fake_result(gan, 6), gan)
    with pytest.raises(CacheError, match="made with model"):
        c.get(_key(6), tiny_gan(1))


# -- budgets ------------------------------------------------------------------------------------------
def test_memory_lru_respects_its_byte_budget(gan):
    entries = [CachedResult.from_result(fake_result(gan, i), gan, key=_key(10 + i)) for i in range(3)]
    size = max(e.nbytes for e in entries)
    c = ResultCache(disk=False, memory_budget=2 * size + 10)
    c.put_entry(entries[0])
    c.put_entry(entries[1])
    assert c.get_entry(_key(10)) is entries[0]            # 10 is now the most recently used
    c.put_entry(entries[2])                               # evicts 11, the least recently used
    assert _key(11) not in c and _key(10) in c and _key(12) in c
    assert c.memory_usage() <= c.memory_budget
    assert c.memory_usage() == entries[0].nbytes + entries[2].nbytes


def test_disk_lru_respects_its_budget(gan, tmp_path):
    entries = [CachedResult.from_result(fake_result(gan, i), gan, key=_key(20 + i)) for i in range(4)]
    c = ResultCache(tmp_path, memory_budget=0)
    c.put_entry(entries[0])
    one = c.disk_usage()
    c.disk_budget = int(2.5 * one)
    c.put_entry(entries[1])
    t = (tmp_path / "results-v1" / f"{_key(21)}.json").stat().st_mtime_ns
    os.utime(tmp_path / "results-v1" / f"{_key(20)}.json", ns=(t + 10**9, t + 10**9))  # 20 used after 21
    c.put_entry(entries[2])
    assert set(c.disk_keys()) == {_key(20), _key(22)}
    assert c.disk_usage() <= c.disk_budget
    assert c.get_entry(_key(21)) is None and c.get_entry(_key(20)) is not None


# -- damage ---------------------------------------------------------------------------------------------
def _damage_tensor_byte(folder, key):
    p = _tensor_file(folder, key)
    data = bytearray(p.read_bytes())
    data[-3] ^= 0x10
    p.write_bytes(bytes(data))


def _damage_json_value(folder, key):
    p = folder / f"{key}.json"
    doc = json.loads(p.read_text())
    doc["z"][0] += 0.5                                   # plausible JSON, wrong content
    p.write_text(json.dumps(doc))


def _truncate_tensors(folder, key):
    p = _tensor_file(folder, key)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage_json(folder, key):
    (folder / f"{key}.json").write_bytes(b"\x00\xffnot json")


def _missing_tensors(folder, key):
    _tensor_file(folder, key).unlink()


@pytest.mark.parametrize("damage", [_damage_tensor_byte, _damage_json_value, _truncate_tensors, _garbage_json,
                                    _missing_tensors])
def test_a_damaged_entry_is_dropped_with_a_warning_never_loaded(gan, tmp_path, damage):
    ResultCache(tmp_path).put(_key(30), fake_result(gan, 30), gan)
    folder = tmp_path / "results-v1"
    damage(folder, _key(30))
    c = ResultCache(tmp_path)
    with pytest.warns(CacheCorruptionWarning):
        assert c.get(_key(30), gan) is None
    assert c.stats["corrupt"] == 1
    assert [p.name for p in folder.iterdir()] == [".lock"]      # both files gone
    c.put(_key(30), fake_result(gan, 30), gan)                   # and the key is usable again
    assert ResultCache(tmp_path).get(_key(30), gan) is not None


def test_entries_from_a_newer_version_are_skipped_not_deleted(gan, tmp_path):
    entry = CachedResult.from_result(fake_result(gan, 31), gan, key=_key(31))
    entry.meta["version"] = 99
    folder = tmp_path / "results-v1"
    folder.mkdir(parents=True)
    entry.write(folder, _key(31))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ResultCache(tmp_path).get_entry(_key(31)) is None
    assert (folder / f"{_key(31)}.json").exists()


def test_strays_are_cleaned_and_no_temp_files_remain(gan, tmp_path):
    c = ResultCache(tmp_path)
    c.put(_key(40), fake_result(gan, 40), gan)
    folder = tmp_path / "results-v1"
    (folder / f".{_key(41)}.json.abc.tmp").write_bytes(b"half")
    (folder / f"{_key(41)}.dead.safetensors").write_bytes(b"orphan")
    c.put(_key(42), fake_result(gan, 42), gan)
    c.put(_key(40), fake_result(gan, 43), gan)                   # replacing drops the old tensor file
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.endswith(".tmp") or "dead" in n]
    assert len([n for n in names if n.endswith(".safetensors")]) == 2
    assert ResultCache(tmp_path).get(_key(40), gan).seed == 43


def test_default_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("DGP_STUDIO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "dgp-studio"
    monkeypatch.setenv("DGP_STUDIO_CACHE", str(tmp_path / "mine"))
    assert ResultCache().dir == tmp_path / "mine" / "results-v1"


def test_bad_keys_are_refused(gan):
    with pytest.raises(ValueError):
        ResultCache(disk=False).get_entry("../../etc/passwd")
