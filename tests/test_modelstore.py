"""Model manager: registry, check, CLI, and a resumable download against a local HTTP server."""
from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
from pathlib import Path

import pytest
import torch

from cache_fixtures import tiny_gan
from dgp_studio.cli.main import main
from dgp_studio.core.checkpoint import CheckpointError, save_biggan
from dgp_studio.core.modelstore import DownloadError, ModelStore, ModelStoreError, check_model, download


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("m") / "tiny-model"
    gan = tiny_gan(0)
    gan.name = "tiny"
    save_biggan(gan, d)
    return d


@pytest.fixture(scope="module")
def released_dir(tmp_path_factory):
    """The released layout: G_ema_<suffix>.pth + D_<suffix>.pth, plain state dicts, no config."""
    d = tmp_path_factory.mktemp("rel") / "biggan-tiny"
    d.mkdir()
    gan = tiny_gan(0)
    torch.save(gan.G.state_dict(), d / "G_ema_32.pth")
    torch.save(gan.D.state_dict(), d / "D_32.pth")
    return d


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("DGP_STUDIO_CONFIG", str(tmp_path / "config"))
    return ModelStore()


def test_check_reports_shapes_params_classes_and_hashes(model_dir, released_dir):
    gan = tiny_gan(0)
    r = check_model(model_dir)
    assert (r.resolution, r.G_ch, r.D_ch, r.dim_z, r.n_classes) == (32, 8, 8, 20, 5)
    assert r.g_params == sum(p.numel() for p in gan.G.parameters())
    assert r.d_params == sum(p.numel() for p in gan.D.parameters())
    assert r.has_D and r.name == "tiny" and r.G_attn == (16,)
    files = {name: sha for name, _, sha in r.files}
    assert set(files) == {"G_ema.pth", "D.pth", "config.json"}
    for name, sha in files.items():
        assert sha == hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
    text = "\n".join(r.lines())
    assert "32 px" in text and f"{r.g_params:,}" in text
    rr = check_model(released_dir)
    assert {n for n, _, _ in rr.files} == {"G_ema_32.pth", "D_32.pth"} and rr.g_params == r.g_params
    single = check_model(released_dir / "G_ema_32.pth")
    assert {n for n, _, _ in single.files} == {"G_ema_32.pth", "D_32.pth"}


def test_check_refuses_a_wrong_shape(tmp_path):
    gan = tiny_gan(0)
    sd = gan.G.state_dict()
    sd["blocks.1.0.conv1.weight"] = torch.zeros(32, 32, 3, 1)
    torch.save(sd, tmp_path / "G_ema_x.pth")
    torch.save(gan.D.state_dict(), tmp_path / "D_x.pth")
    with pytest.raises(CheckpointError, match=r"blocks\.1\.0\.conv1\.weight.*shape"):
        check_model(tmp_path)


def test_registry_add_list_resolve_remove(store, model_dir, released_dir):
    assert [e.name for e in store.list()] == ["dgp-prior-64"] and store.list()[0].bundled
    e = store.add(model_dir)
    assert e.name == "tiny" and Path(e.path) == model_dir.resolve()
    store.add(released_dir, name="released")
    assert [x.name for x in ModelStore().list()][1:] == ["tiny", "released"]
    assert store.resolve("released") == released_dir.resolve()
    assert store.resolve(str(model_dir)) == model_dir
    with pytest.raises(ModelStoreError, match="already exists"):
        store.add(released_dir, name="tiny")
    with pytest.raises(ModelStoreError, match="unknown model"):
        store.resolve("nope")
    store.remove("tiny")
    assert [x.name for x in store.list()][1:] == ["released"]
    assert (model_dir / "G_ema.pth").exists()                 # forgetting never deletes files
    with pytest.raises(ModelStoreError, match="bundled"):
        store.remove("dgp-prior-64")
    doc = json.loads((store.dir / "models.json").read_text())
    assert doc["format"] == "dgp-studio-models" and doc["version"] == 1


def test_a_bad_model_is_not_registered(store, tmp_path):
    (tmp_path / "G_ema_x.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        store.add(tmp_path)
    assert not (store.dir / "models.json").exists()


def test_a_damaged_registry_is_reported_and_never_overwritten(store, model_dir):
    store.dir.mkdir(parents=True)
    (store.dir / "models.json").write_text("{broken")
    with pytest.warns(RuntimeWarning, match="damaged"):
        assert [e.name for e in store.list()] == ["dgp-prior-64"]
    with pytest.raises(ModelStoreError, match="damaged"):
        store.add(model_dir)
    assert (store.dir / "models.json").read_text() == "{broken"
    # a version that is not a number was a TypeError out of 'models list'
    odd = '{"format": "dgp-studio-models", "version": "2", "models": []}'
    (store.dir / "models.json").write_text(odd)
    with pytest.warns(RuntimeWarning, match=r"damaged \(no format version\)"):
        assert [e.name for e in store.list()] == ["dgp-prior-64"]
    assert (store.dir / "models.json").read_text() == odd


def test_cli(store, model_dir, capsys, tmp_path):
    assert main(["models", "add", str(model_dir), "--name", "mine"]) == 0
    assert "added 'mine'" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^mine\s+added\s+" + re.escape(str(model_dir.resolve())), out, re.M)
    assert main(["models", "check", "mine"]) == 0
    out = capsys.readouterr().out
    sha = hashlib.sha256((model_dir / "G_ema.pth").read_bytes()).hexdigest()
    assert "resolution  32 px" in out and sha in out
    assert main(["models", "remove", "mine"]) == 0
    capsys.readouterr()
    bad = tmp_path / "G_ema_t.pth"
    bad.write_bytes((model_dir / "G_ema.pth").read_bytes()[:500])
    assert main(["models", "check", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dgp-studio: error:") and "\n" not in err and "truncated" in err
    assert main(["models", "remove", "mine"]) == 2
    # a generator without its discriminator is registered, with a note that it cannot restore
    g_only = tmp_path / "g_only"
    g_only.mkdir()
    (g_only / "G_ema.pth").write_bytes((model_dir / "G_ema.pth").read_bytes())
    capsys.readouterr()
    assert main(["models", "add", str(g_only), "--name", "g"]) == 0
    cap = capsys.readouterr()
    assert "added 'g'" in cap.out and "no discriminator" in cap.err and "cannot restore" in cap.err
    assert main(["models", "add", str(model_dir), "--name", "full"]) == 0
    assert "no discriminator" not in capsys.readouterr().err
    assert main(["models", "add", str(tmp_path / "nowhere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


# -- download -----------------------------------------------------------------------------------
PAYLOAD = bytes(range(256)) * 4096 + b"tail"          # ~1 MiB
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Server:
    """127.0.0.1 server with Range support; ``cut_after`` drops the first answer after N bytes;
    ``honour_range=False`` answers every request with the whole file (200)."""

    def __init__(self, payload=PAYLOAD, cut_after=None, honour_range=True):
        self.payload, self.cut_after, self.honour_range = payload, cut_after, honour_range
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                data, start = outer.payload, 0
                m = re.match(r"bytes=(\d+)-$", rng or "")
                if m and outer.honour_range:
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_after is not None:
                    n, outer.cut_after = outer.cut_after, None
                    self.wfile.write(body[:n])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/G_ema_256.pth"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_with_progress_and_verification(tmp_path):
    calls = []
    with _Server() as srv:
        path = download(srv.url, PAYLOAD_SHA, tmp_path, progress=lambda d, t: calls.append((d, t)),
                        chunk_size=64 * 1024)
        assert path == tmp_path / "G_ema_256.pth" and path.read_bytes() == PAYLOAD
        assert calls[-1] == (len(PAYLOAD), len(PAYLOAD)) and len(calls) > 10
        assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
        assert download(srv.url, PAYLOAD_SHA, tmp_path) == path   # already there: nothing fetched
        assert srv.requests == [None]
    assert not list(tmp_path.glob("*.part"))


def test_an_interrupted_download_resumes_with_a_range_request(tmp_path):
    cut = 300_000
    with _Server(cut_after=cut) as srv:
        with pytest.raises(DownloadError, match="run the same command again to resume"):
            download(srv.url, PAYLOAD_SHA, tmp_path, chunk_size=16 * 1024)
        part = tmp_path / "G_ema_256.pth.part"
        assert part.stat().st_size == cut and not (tmp_path / "G_ema_256.pth").exists()
        path = download(srv.url, PAYLOAD_SHA, tmp_path)
        assert srv.requests == [None, f"bytes={cut}-"]
    assert path.read_bytes() == PAYLOAD and not part.exists()


def test_a_server_ignoring_range_restarts_cleanly(tmp_path):
    (tmp_path / "G_ema_256.pth.part").write_bytes(b"stale bytes from elsewhere")
    with _Server(honour_range=False) as srv:
        path = download(srv.url, PAYLOAD_SHA, tmp_path)
        assert srv.requests == ["bytes=26-"]
    assert path.read_bytes() == PAYLOAD


def test_a_complete_part_is_finished_without_refetching(tmp_path):
    (tmp_path / "G_ema_256.pth.part").write_bytes(PAYLOAD)
    with _Server() as srv:
        download(srv.url, PAYLOAD_SHA, tmp_path)
        assert srv.requests == [f"bytes={len(PAYLOAD)}-"]          # answered 416: nothing left
    assert (tmp_path / "G_ema_256.pth").read_bytes() == PAYLOAD


def test_a_wrong_hash_leaves_nothing(tmp_path):
    with _Server() as srv:
        with pytest.raises(DownloadError, match="SHA-256 mismatch"):
            download(srv.url, "0" * 64, tmp_path)
    assert list(tmp_path.iterdir()) == [tmp_path / ".G_ema_256.pth.download.lock"]


def test_download_refusals(tmp_path):
    with pytest.raises(DownloadError, match="only http"):
        download("file:///etc/passwd", PAYLOAD_SHA, tmp_path)
    with pytest.raises(DownloadError, match="64 hexadecimal"):
        download("http://127.0.0.1:1/x", "abc", tmp_path)
    (tmp_path / "G_ema_256.pth").write_bytes(b"mine")
    with _Server() as srv:
        with pytest.raises(DownloadError, match="not overwritten"):
            download(srv.url, PAYLOAD_SHA, tmp_path)
        assert srv.requests == []
    assert (tmp_path / "G_ema_256.pth").read_bytes() == b"mine"
    with pytest.raises(DownloadError, match="cannot connect"):
        download("http://127.0.0.1:9/none.pth", PAYLOAD_SHA, tmp_path / "x", timeout=2)


def test_cli_download(tmp_path, capsys):
    with _Server() as srv:
        assert main(["models", "download", srv.url, "--sha256", PAYLOAD_SHA, "--to", str(tmp_path),
                     "--quiet"]) == 0
        assert main(["models", "download", srv.url, "--sha256", "f" * 64, "--to", str(tmp_path / "b"),
                     "--quiet"]) == 2
    out = capsys.readouterr()
    assert "SHA-256 verified" in out.out and "SHA-256 mismatch" in out.err
    assert (tmp_path / "G_ema_256.pth").read_bytes() == PAYLOAD
