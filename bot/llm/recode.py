"""The bundled model, re-encoded once as Q8_0 so that llama.cpp reads prompts fast on a CPU.

The registry package ships SmolLM2-135M-Instruct as Q4_1. llama.cpp's fast CPU matrix kernels for prompt
reading (llamafile's sgemm, the repacked AVX2 paths) cover Q8_0 and Q4_0 but not Q4_1. On the 2-core AVX2
machine this project is measured on, the same weights read a prompt at ~170 tok/s as Q4_1 and 200-310 tok/s
as Q8_0 (run to run), and decode at the same speed (``policybot bench`` measures both files). Prompt reading sets
the time to first token: on the seed eval, TTFT p50 went from 1.13 s to 0.71 s.

Q8_0 stores each Q4_1 weight to within 1/254 of its block's largest weight: the same model up to rounding
(the seed eval's figures are in the README). Q4_0 would read faster still, but re-quantising four bits into
another four-bit grid loses precision, so it is not offered.

The file is written by llama.cpp's own quantiser (``llama_model_quantize``, part of llama-cpp-python) into
``$POLICYBOT_GGUF_CACHE`` (default ``~/.cache/policybot/gguf``), keyed by the source file's size and mtime, one writer
at a time and renamed into place when complete (about a second). A model file the user names is used as is.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

RECODINGS = ("q8_0",)


def cache_root() -> Path:
    return Path(os.environ.get("POLICYBOT_GGUF_CACHE", Path.home() / ".cache" / "policybot" / "gguf"))


def recoded(source: Path, kind: str = "q8_0") -> Path:
    """``source`` re-encoded as ``kind`` (built on first use); ``source`` itself if that cannot be done."""
    if kind not in RECODINGS:
        raise ValueError(f"unknown recoding {kind!r}; expected one of {RECODINGS}")
    st = source.stat()  # keyed by size and time, not a hash: hashing 100 MB would cost every start a quarter second
    folder = cache_root() / f"{st.st_size}-{st.st_mtime_ns}"
    target = folder / f"{source.stem}.{kind}.gguf"
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not target.is_file():
                log.info("re-encoding %s as %s in %s (once)", source.name, kind, folder)
                _quantize(source, target, kind)
    except Exception as exc:  # an optimisation: serve the model as shipped rather than fail
        log.warning("could not re-encode %s as %s (%s); using it as shipped", source.name, kind, exc)
        return source
    return target


def _quantize(source: Path, target: Path, kind: str) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0}[kind]
    params.allow_requantize = True  # the source is already quantised (Q4_1)
    params.nthread = os.cpu_count() or 1
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    llama_log = logging.getLogger("llama-cpp-python")  # llama.cpp's own log lines go through this logger
    level = llama_log.level
    llama_log.setLevel(logging.ERROR)  # the quantiser lists every tensor otherwise
    try:
        rc = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params))
        if rc != 0 or not tmp.is_file():
            raise RuntimeError(f"llama_model_quantize returned {rc}")
        os.replace(tmp, target)
    finally:
        llama_log.setLevel(level)
        tmp.unlink(missing_ok=True)
