"""``cxrlib download`` against a loopback HTTP server serving small archives built here.

No test reaches the network: recipes point at ``http://127.0.0.1:<port>/`` (``base_url`` or ``recipes``),
and the test with the real, pre-filled data root forbids every urllib request altogether
(``OpenerDirector.open``, which ``urlopen`` and the download's own opener both use).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import socket
import tarfile
import threading
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxrlib.data import download as dl
from cxrlib.data.root import SOURCES, missing_markers

# ---------------------------------------------------------------------------------------------------
# A loopback server: Range support can be switched off, and a file can drop the connection halfway once
# ---------------------------------------------------------------------------------------------------


@dataclass
class ServerState:
    root: Path
    honour_range: bool = True
    drop_once: set[str] = field(default_factory=set)
    requests: list[tuple[str, str | None, int]] = field(default_factory=list)


class RangeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server naming)
        state: ServerState = self.server.state
        name = self.path.lstrip("/").split("?")[0]
        path = state.root / name
        requested = self.headers.get("Range")
        if not path.is_file():
            state.requests.append((name, requested, 404))
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if requested and state.honour_range:
            start = int(requested.split("=")[1].split("-")[0])
            if start >= len(data):
                state.requests.append((name, requested, 416))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            state.requests.append((name, requested, 206))
        else:
            self.send_response(200)
            state.requests.append((name, requested, 200))
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name in state.drop_once:
            state.drop_once.discard(name)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.daemon_threads = True
    httpd.state = ServerState(root=served)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return path


def fetch(keys, root, server, messages=None, **options):
    """download() with fast failure settings, collecting the log lines."""
    sink = [] if messages is None else messages
    options.setdefault("base_url", server.url)
    return dl.download(keys, root=root, progress=False, timeout=5, retry_wait=0, log=sink.append, **options)


# ---------------------------------------------------------------------------------------------------
# Small archives mimicking the real ones
# ---------------------------------------------------------------------------------------------------


def image_bytes(fmt: str, size=(8, 8), value=128, mode="L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, value).save(buffer, format=fmt)
    return buffer.getvalue()


def kermany_zip(path: Path) -> dict[str, int]:
    """ChestXRay2017.zip layout: chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/*.jpeg plus macOS debris."""
    counts = {}
    with zipfile.ZipFile(path, "w") as bundle:
        for split, n in (("train", 3), ("test", 2), ("val", 1)):
            for label in ("NORMAL", "PNEUMONIA"):
                bundle.writestr(f"chest_xray/{split}/{label}/", "")
                for i in range(n):
                    bundle.writestr(f"chest_xray/{split}/{label}/person{i}_x.jpeg", image_bytes("JPEG", value=10 * i))
                counts[f"{split}/{label}"] = n
        bundle.writestr("chest_xray/.DS_Store", b"junk")
        bundle.writestr("__MACOSX/chest_xray/train/NORMAL/._person0_x.jpeg", b"junk")
    return counts


def nih_tar(path: Path) -> None:
    """images_001.tar.gz layout: images/<patient>_<follow-up>.png, 1024 px in reality (32 px here)."""
    with tarfile.open(path, "w:gz") as bundle:
        for name, mode in (("00000001_000.png", "L"), ("00000001_001.png", "L"), ("00000002_000.png", "RGBA"),
                           ("00000003_002.png", "L"), ("00000003_001.png", "L")):
            data = image_bytes("PNG", size=(32, 32), mode=mode)
            info = tarfile.TarInfo(f"images/{name}")
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))


def covid_zip(path: Path, top: str) -> None:
    rows = [
        "patientid,view,modality,folder,filename,finding",
        "1,PA,X-ray,images,a.jpeg,COVID-19",
        "1,L,X-ray,images,b.jpeg,COVID-19",
        "2,Axial,CT,images,c.png,COVID-19",
        "3,AP Supine,X-ray,images,d.png,Pneumonia",
        "4,AP,X-ray,images,missing.png,Pneumonia",
    ]
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr(f"{top}/metadata.csv", "\n".join(rows) + "\n")
        bundle.writestr(f"{top}/README.md", "readme")
        bundle.writestr(f"{top}/images/a.jpeg", image_bytes("JPEG", size=(40, 20)))
        bundle.writestr(f"{top}/images/b.jpeg", image_bytes("JPEG", size=(20, 40)))
        bundle.writestr(f"{top}/images/c.png", image_bytes("PNG"))
        bundle.writestr(f"{top}/images/d.png", image_bytes("PNG", size=(30, 50), mode="RGB"))


def npz_bytes() -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buffer, train_images=rng.integers(0, 255, (64, 28, 28), dtype=np.uint8),
             train_labels=np.zeros((64, 1), dtype=np.uint8))
    return buffer.getvalue()


def pneumoniamnist_recipe(url: str, data: bytes, **changes) -> dl.Recipe:
    """The real PneumoniaMNIST recipe, pointed at the test server with this test's own MD5."""
    real = dl.RECIPES["pneumoniamnist"]
    remote = replace(real.files[0], url=f"{url}/{real.files[0].filename}",
                     md5=hashlib.md5(data).hexdigest(), checksum_source="this test", **changes)
    return replace(real, files=(remote,))


def lock(root: Path) -> dict:
    return json.loads((root / dl.LOCK_NAME).read_text())


# ---------------------------------------------------------------------------------------------------
# The recipe table
# ---------------------------------------------------------------------------------------------------


def test_every_classroom_dataset_has_a_recipe_of_its_own_key():
    for key, source in SOURCES.items():
        if source.classroom:
            assert key in dl.RECIPES and dl.source_of(key) is source and source.recipe is dl.RECIPES[key]
    for recipe in dl.RECIPES.values():
        assert dl.source_of(recipe.key).key in SOURCES
        assert recipe.post is None or recipe.post in dl.POST_STEPS


def test_recipes_are_the_ones_the_source_rows_carry():
    carried = [recipe for source in SOURCES.values() for recipe in source.recipes()]
    assert list(dl.RECIPES.values()) == carried  # one table: RECIPES only indexes SOURCES
    for key in ("nih-cxr14-images", "nih-cxr14-sample-from-nih"):  # alternatives fill the folder of their row
        assert dl.RECIPES[key] in dl.source_of(key).alternatives


def test_checksums_are_published_ones_with_their_source():
    for recipe in dl.RECIPES.values():
        for remote in recipe.files:
            assert remote.url.startswith("https://")
            assert remote.unpack in ("zip", "tar", "file")
            if remote.md5 or remote.sha256:
                assert remote.checksum_source, f"{recipe.key}/{remote.filename}: checksum without a source"
            assert remote.md5 is None or len(remote.md5) == 32
            assert remote.sha256 is None or len(remote.sha256) == 64


# ---------------------------------------------------------------------------------------------------
# Downloads from the loopback server
# ---------------------------------------------------------------------------------------------------


def test_zip_unpacks_to_the_layout_and_records_the_hash_on_first_use(server, root):
    counts = kermany_zip(server.state.root / "ChestXRay2017.zip")
    messages = []
    done = fetch(["kermany-pneumonia"], root, server, messages)

    folder = root / "kermany-pneumonia"
    assert done == [folder]
    assert missing_markers("kermany-pneumonia", root) == []
    for split in ("train", "test"):
        for label in ("NORMAL", "PNEUMONIA"):
            assert len(list((folder / split / label).glob("*.jpeg"))) == counts[f"{split}/{label}"]
    assert not (folder / "val").exists() and not list(folder.rglob(".*")) and not (folder / "__MACOSX").exists()
    entry = lock(root)["files"]["kermany-pneumonia/ChestXRay2017.zip"]
    expected = hashlib.sha256((server.state.root / "ChestXRay2017.zip").read_bytes()).hexdigest()
    assert entry["sha256"] == expected and entry["verified"] == "trust on first use" and entry["unpacked"]
    assert any("NOT verified against a published checksum" in m for m in messages)
    assert not (root / dl.CACHE_NAME).exists()  # archive removed once unpacked


def test_second_run_skips_a_present_dataset(server, root):
    kermany_zip(server.state.root / "ChestXRay2017.zip")
    fetch(["kermany-pneumonia"], root, server)
    before = len(server.state.requests)
    messages = []
    assert fetch(["kermany-pneumonia"], root, server, messages) == []
    assert len(server.state.requests) == before
    assert any("already present" in m for m in messages)
    shutil.rmtree(root / "kermany-pneumonia")  # removed since: the next run fetches it again
    assert fetch(["kermany-pneumonia"], root, server) == [root / "kermany-pneumonia"]
    assert len(server.state.requests) == before + 1
    assert missing_markers("kermany-pneumonia", root) == []


def test_archive_members_outside_the_rules_are_never_written():
    rules = dl.RECIPES["kermany-pneumonia"].files[0].extract
    assert str(dl.member_target("chest_xray/train/NORMAL/a.jpeg", rules)) == "train/NORMAL/a.jpeg"
    for member in ("chest_xray/train/../../../etc/passwd", "/chest_xray/train/x", "__MACOSX/chest_xray/train/x",
                   "chest_xray/train/.DS_Store", "chest_xray/val/NORMAL/a.jpeg"):
        assert dl.member_target(member, rules) is None


def test_changed_file_fails_against_the_hash_recorded_at_first_use(server, root):
    archive = server.state.root / "ChestXRay2017.zip"
    kermany_zip(archive)
    fetch(["kermany-pneumonia"], root, server)
    with zipfile.ZipFile(archive, "a") as bundle:
        bundle.writestr("chest_xray/train/NORMAL/extra.jpeg", image_bytes("JPEG"))
    with pytest.raises(dl.ChecksumError, match="recorded at the first download") as error:
        fetch(["kermany-pneumonia"], root, server, force=True)
    assert "kermany-pneumonia" in str(error.value) and server.url in str(error.value)
    assert not list((root / dl.CACHE_NAME).rglob("ChestXRay2017.zip*"))


def test_published_checksum_mismatch_deletes_the_file(server, root):
    (server.state.root / "pneumoniamnist.npz").write_bytes(npz_bytes())  # not MedMNIST's file: its MD5 differs
    with pytest.raises(dl.ChecksumError, match="differs from the published") as error:
        fetch(["pneumoniamnist"], root, server)
    message = str(error.value)
    assert "pneumoniamnist" in message and "MedMNIST" in message and "deleted" in message
    assert not list((root / dl.CACHE_NAME).rglob("pneumoniamnist.npz*"))
    assert not (root / "pneumoniamnist").exists()


def test_plain_file_with_published_md5(server, root):
    data = npz_bytes()
    (server.state.root / "pneumoniamnist.npz").write_bytes(data)
    recipe = pneumoniamnist_recipe(server.url, data)
    fetch(["pneumoniamnist"], root, server, recipes={"pneumoniamnist": recipe}, base_url=None)
    stored = root / "pneumoniamnist" / "pneumoniamnist.npz"
    assert stored.read_bytes() == data
    assert np.load(stored)["train_images"].shape == (64, 28, 28)
    assert lock(root)["files"]["pneumoniamnist/pneumoniamnist.npz"]["verified"].startswith("published")


def test_resume_after_a_partial_file_uses_a_range_request(server, root):
    data = npz_bytes()
    (server.state.root / "pneumoniamnist.npz").write_bytes(data)
    part = root / dl.CACHE_NAME / "pneumoniamnist" / "pneumoniamnist.npz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])
    recipe = pneumoniamnist_recipe(server.url, data)
    fetch(["pneumoniamnist"], root, server, recipes={"pneumoniamnist": recipe}, base_url=None)
    assert server.state.requests == [("pneumoniamnist.npz", "bytes=1000-", 206)]
    assert (root / "pneumoniamnist" / "pneumoniamnist.npz").read_bytes() == data
    assert not part.exists()


def test_server_ignoring_range_restarts_from_the_beginning(server, root):
    data = npz_bytes()
    (server.state.root / "pneumoniamnist.npz").write_bytes(data)
    server.state.honour_range = False
    part = root / dl.CACHE_NAME / "pneumoniamnist" / "pneumoniamnist.npz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 500)  # not even the right bytes: appending would corrupt the file
    recipe = pneumoniamnist_recipe(server.url, data)
    fetch(["pneumoniamnist"], root, server, recipes={"pneumoniamnist": recipe}, base_url=None)
    assert server.state.requests == [("pneumoniamnist.npz", "bytes=500-", 200)]
    assert (root / "pneumoniamnist" / "pneumoniamnist.npz").read_bytes() == data


def test_dropped_connection_is_resumed_within_the_run(server, root):
    data = npz_bytes()
    (server.state.root / "pneumoniamnist.npz").write_bytes(data)
    server.state.drop_once.add("pneumoniamnist.npz")
    recipe = pneumoniamnist_recipe(server.url, data)
    messages = []
    fetch(["pneumoniamnist"], root, server, messages, recipes={"pneumoniamnist": recipe}, base_url=None, retries=2)
    half = (len(data)) // 2
    assert server.state.requests == [("pneumoniamnist.npz", None, 200), ("pneumoniamnist.npz", f"bytes={half}-", 206)]
    assert (root / "pneumoniamnist" / "pneumoniamnist.npz").read_bytes() == data
    assert any("resuming at byte" in m for m in messages)


def test_dropped_connection_without_retries_keeps_the_part_for_the_next_run(server, root):
    data = npz_bytes()
    (server.state.root / "pneumoniamnist.npz").write_bytes(data)
    server.state.drop_once.add("pneumoniamnist.npz")
    recipe = {"pneumoniamnist": pneumoniamnist_recipe(server.url, data)}
    with pytest.raises(dl.DownloadError, match="run the same command again to resume"):
        fetch(["pneumoniamnist"], root, server, recipes=recipe, base_url=None, retries=0)
    part = root / dl.CACHE_NAME / "pneumoniamnist" / "pneumoniamnist.npz.part"
    assert part.stat().st_size == len(data) // 2
    fetch(["pneumoniamnist"], root, server, recipes=recipe, base_url=None, retries=0)
    assert server.state.requests[-1] == ("pneumoniamnist.npz", f"bytes={len(data) // 2}-", 206)
    assert (root / "pneumoniamnist" / "pneumoniamnist.npz").read_bytes() == data


def test_http_error_names_the_dataset_and_url(server, root):
    with pytest.raises(dl.DownloadError, match=r"kermany-pneumonia: HTTP 404") as error:
        fetch(["kermany-pneumonia"], root, server)
    assert f"{server.url}/ChestXRay2017.zip" in str(error.value)


def test_fallback_url_is_tried_after_a_404(server, root):
    data = b"Image Index,prob_Atelectasis\n00000001_000.png,0.5\n"
    (server.state.root / "master-preds.csv").write_bytes(data)
    real = dl.RECIPES["chexnet-predictions"]
    remote = replace(real.files[0], url=f"{server.url}/pinned-preds.csv", fallback_urls=(f"{server.url}/master-preds.csv",))
    fetch(["chexnet-predictions"], root, server, recipes={"chexnet-predictions": replace(real, files=(remote,))},
          base_url=None)
    assert (root / "nih-cxr14" / "chexnet-densenet121-preds" / "preds.csv").read_bytes() == data
    assert lock(root)["files"]["chexnet-predictions/preds.csv"]["url"].endswith("master-preds.csv")


def test_tar_gz_post_step_makes_the_256px_sample_one_image_per_patient(server, root):
    nih_tar(server.state.root / "images_001.tar.gz")
    real = dl.RECIPES["nih-cxr14-sample-from-nih"]
    unverified = replace(real, files=(replace(real.files[0], md5=None, checksum_source=""),))
    fetch(["nih-cxr14-sample-from-nih"], root, server, recipes={"nih-cxr14-sample-from-nih": unverified})
    sample = root / "nih-cxr14" / "images-256"
    assert sorted(p.name for p in sample.iterdir()) == ["00000001_000.png", "00000002_000.png", "00000003_001.png"]
    for path in sample.iterdir():
        with Image.open(path) as image:
            assert image.size == (256, 256) and image.mode == "L"
    assert not (root / dl.CACHE_NAME).exists() or not any((root / dl.CACHE_NAME).rglob("*.png"))


def test_repository_zip_gives_the_reproduce_chexnet_sample(server, root):
    real = dl.RECIPES["nih-cxr14-sample"]
    with zipfile.ZipFile(server.state.root / real.files[0].filename, "w") as bundle:
        for name in ("00000075_000.png", "00000100_000.png"):
            bundle.writestr(f"reproduce-chexnet-abc/starter_images/{name}", image_bytes("PNG", size=(64, 64)))
        bundle.writestr("reproduce-chexnet-abc/pretrained/aucs.csv", "label,auc\n")
    assert fetch(["nih-cxr14-sample"], root, server) == [root / "nih-cxr14" / "images-256"]
    assert sorted(p.name for p in (root / "nih-cxr14" / "images-256").iterdir()) == ["00000075_000.png", "00000100_000.png"]


def test_covid_repository_zip_keeps_metadata_and_makes_frontal_256(server, root):
    real = dl.RECIPES["covid-chestxray"]
    covid_zip(server.state.root / real.files[0].filename, "covid-chestxray-dataset-abc")
    fetch(["covid-chestxray"], root, server)
    folder = root / "covid-chestxray"
    assert (folder / "metadata.csv").read_text().startswith("patientid,")
    assert sorted(p.name for p in (folder / "images").iterdir()) == ["a.jpeg", "b.jpeg", "c.png", "d.png"]
    assert sorted(p.name for p in (folder / "images-256").iterdir()) == ["a.png", "d.png"]  # PA and AP Supine X-rays
    for path in (folder / "images-256").iterdir():
        with Image.open(path) as image:
            assert image.size == (256, 256) and image.mode == "L"
    assert not (folder / "README.md").exists()


def test_chexpert_prints_instructions_and_downloads_nothing(server, root):
    messages = []
    assert fetch(["chexpert", "chexpert-valid"], root, server, messages) == []
    text = "\n".join(messages)
    assert "no automatic download" in text and SOURCES["chexpert"].url in text and "Register" in text
    assert server.state.requests == [] and list(root.iterdir()) == []


def test_missing_classroom_fetches_only_what_is_missing(server, root):
    for key, source in SOURCES.items():
        if source.classroom and key != "pneumoniamnist":
            for marker in source.markers:
                (source.path(root) / marker).mkdir(parents=True, exist_ok=True)
    data = npz_bytes()
    (server.state.root / "pneumoniamnist.npz").write_bytes(data)
    recipes = {"pneumoniamnist": pneumoniamnist_recipe(server.url, data)}
    done = dl.download_missing_classroom(root, progress=False, recipes=recipes, timeout=5, log=lambda m: None)
    assert done == [root / "pneumoniamnist"]
    assert [r[0] for r in server.state.requests] == ["pneumoniamnist.npz"]
    assert dl.download_missing_classroom(root, progress=False, recipes=recipes, log=lambda m: None) == []


def test_prefilled_shared_data_root_downloads_nothing(data_root, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("download_missing_classroom tried to reach the network")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", no_network)
    lock_before = (data_root / dl.LOCK_NAME).exists()
    assert dl.download_missing_classroom(data_root, progress=False) == []
    assert (data_root / dl.LOCK_NAME).exists() == lock_before
    assert not (data_root / dl.CACHE_NAME).exists()


def test_command_line_list_and_manual_exit_code(data_root, root, capsys, monkeypatch):
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", None)  # any network attempt fails loudly
    parser = dl.add_arguments(argparse.ArgumentParser())
    assert dl.run(parser.parse_args(["--list", "--root", str(data_root)])) == 0
    listing = capsys.readouterr().out
    assert "kermany-pneumonia" in listing and "present" in listing
    assert dl.run(parser.parse_args(["--missing", "--root", str(data_root)])) == 0
    assert "nothing to download" in capsys.readouterr().out
    assert dl.run(parser.parse_args(["chexpert", "--root", str(root), "--no-progress"])) == 1
    assert "CheXpert" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--timeout", "soon"])


# ---------------------------------------------------------------------------------------------------
# A host that accepts the connection and never answers
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def silent_server():
    """A loopback socket (127.0.0.1 only) that accepts connections, reads nothing and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)
    accepted, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    stop.set()
    thread.join(timeout=2)
    for connection in accepted:
        connection.close()
    listener.close()


def test_defaults_make_an_unresponsive_host_fail_within_30_seconds():
    assert dl.DEFAULT_CONNECT_TIMEOUT_S + dl.DEFAULT_TIMEOUT_S <= 30


def test_unresponsive_host_fails_fast_with_one_clear_error(silent_server, root):
    url, accepted = silent_server
    recipe = {"pneumoniamnist": pneumoniamnist_recipe(url, b"never sent")}
    started = time.monotonic()
    with pytest.raises(dl.DownloadError) as error:
        dl.download(["pneumoniamnist"], root=root, progress=False, recipes=recipe, timeout=0.3, retries=3,
                    retry_wait=0, log=lambda m: None)
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"a silent host took {elapsed:.1f} s to fail with timeout=0.3"
    message = str(error.value)
    assert message.startswith("pneumoniamnist: ") and f"{url}/pneumoniamnist.npz sent nothing for 0.3 s" in message
    assert "--timeout" in message and "CXRLIB_DOWNLOAD_TIMEOUT" in message
    assert len(accepted) == 1, "a host that stays silent is not retried"


def test_unresponsive_host_keeps_the_partial_file_for_a_later_resume(silent_server, root):
    url, _ = silent_server
    part = root / dl.CACHE_NAME / "pneumoniamnist" / "pneumoniamnist.npz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 100)
    recipe = {"pneumoniamnist": pneumoniamnist_recipe(url, b"y" * 200)}
    with pytest.raises(dl.DownloadError, match=r"100 bytes are kept in .*pneumoniamnist.npz.part and resumed next time"):
        dl.download(["pneumoniamnist"], root=root, progress=False, recipes=recipe, timeout=0.3, log=lambda m: None)
    assert part.read_bytes() == b"x" * 100


def test_timeout_from_the_environment(silent_server, root, monkeypatch):
    url, _ = silent_server
    recipe = {"pneumoniamnist": pneumoniamnist_recipe(url, b"never sent")}
    monkeypatch.setenv("CXRLIB_DOWNLOAD_TIMEOUT", "0.2")
    started = time.monotonic()
    with pytest.raises(dl.DownloadError, match="sent nothing for 0.2 s"):
        dl.download(["pneumoniamnist"], root=root, progress=False, recipes=recipe, log=lambda m: None)
    assert time.monotonic() - started < 3
    monkeypatch.setenv("CXRLIB_DOWNLOAD_TIMEOUT", "soon")
    with pytest.raises(ValueError, match=r"read timeout must be a positive number of seconds, got 'soon' \(\$CXRLIB_DOWNLOAD_TIMEOUT\)"):
        dl.download(["pneumoniamnist"], root=root, progress=False, recipes=recipe, log=lambda m: None)


def test_bad_timeouts_are_named(root, capsys):
    with pytest.raises(ValueError, match=r"timeout must be a positive number of seconds, got -1 \(--timeout\)"):
        dl.download(["pneumoniamnist"], root=root, timeout=-1)
    with pytest.raises(ValueError, match=r"connect_timeout must be a positive number.*got 0"):
        dl.download(["pneumoniamnist"], root=root, connect_timeout=0)
    with pytest.raises(ValueError, match=r"retries must be a whole number >= 0"):
        dl.download(["pneumoniamnist"], root=root, retries=-1)
    parser = dl.add_arguments(argparse.ArgumentParser())
    assert dl.run(parser.parse_args(["pneumoniamnist", "--root", str(root), "--connect-timeout", "-2"])) == 1
    assert "connect_timeout must be a positive number of seconds, got -2.0 (--connect-timeout)" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------
# A host that answers one byte at a time
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def trickling_server():
    """A loopback server (127.0.0.1 only) that trickles: ``mode["headers"]`` True sends its status line one
    byte every 0.1 s and never finishes it; else it sends the headers of a 1000-byte body, then one byte
    every 0.1 s. Each connection is served for at most 20 s."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)
    mode, accepted, stop = {"headers": False}, [], threading.Event()

    def serve(connection):
        with connection:
            connection.settimeout(1)
            try:
                connection.recv(65536)  # the request
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                if mode["headers"]:
                    data = head * 1000
                else:
                    connection.sendall(head)
                    data = b"x" * 1000
                for byte in data[:200]:
                    if stop.wait(0.1):
                        return
                    connection.sendall(bytes([byte]))
            except OSError:
                return

    def accept():
        while not stop.is_set():
            try:
                connection = listener.accept()[0]
            except OSError:
                continue
            accepted.append(connection)
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", mode, accepted
    stop.set()
    thread.join(timeout=2)
    listener.close()


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_trickling_host_fails_within_the_timeouts(trickling_server, root, where):
    url, mode, accepted = trickling_server
    mode["headers"] = where == "headers"
    recipe = {"pneumoniamnist": pneumoniamnist_recipe(url, b"x" * 1000)}
    started = time.monotonic()
    with pytest.raises(dl.DownloadError) as error:
        dl.download(["pneumoniamnist"], root=root, progress=False, recipes=recipe, timeout=0.5, connect_timeout=0.5,
                    retries=3, retry_wait=0, log=lambda m: None)
    elapsed = time.monotonic() - started
    assert elapsed < 4, f"a trickling host took {elapsed:.1f} s to fail with timeout=0.5 (1 byte every 0.1 s)"
    message = str(error.value)
    assert message.startswith("pneumoniamnist: ") and f"{url}/pneumoniamnist.npz is too slow" in message
    assert ("no complete answer within 1 s" if where == "headers" else "below 1024 bytes/s") in message
    assert "--timeout" in message and "CXRLIB_DOWNLOAD_TIMEOUT" in message
    assert len(accepted) == 1, "a trickling host is not retried"
    if where == "body":
        assert "bytes are kept in" in message  # what did arrive is resumed next time
