"""ONNX Runtime sessions for the TTS engines (Kokoro and Piper), on the worker's device."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort  # type: ignore[import-untyped]

from neuraldrive_audio.config import Device

log = logging.getLogger(__name__)

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def execution_providers(device: Device) -> list[str | tuple[str, dict[str, str | int]]]:
    """Providers for ``device``, CPU always last as fallback.

    A CUDA device on an ONNX Runtime build without CUDA (the plain ``onnxruntime``
    wheel) runs on CPU with a warning rather than failing the load.
    """
    if device.type != "cuda":
        return [CPU_PROVIDER]
    if CUDA_PROVIDER not in ort.get_available_providers():
        log.warning("%s requested but ONNX Runtime has no CUDA provider; using CPU", device)
        return [CPU_PROVIDER]
    # HEURISTIC conv search: EXHAUSTIVE (the default) benchmarks every new input shape,
    # and TTS inputs change shape with every sentence.
    options: dict[str, str | int] = {
        "device_id": device.index,
        "cudnn_conv_algo_search": "HEURISTIC",
    }
    return [(CUDA_PROVIDER, options), CPU_PROVIDER]


def create_session(
    model_path: Path, device: Device, threads: int = 0, spinning: bool = False
) -> ort.InferenceSession:
    """Load an ONNX model for inference; ``threads`` 0 keeps ONNX Runtime's default, and
    ``spinning`` lets idle pool threads busy-wait for the next operator (its default)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    # One graph runs at a time per worker; extra inter-op threads would only compete.
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(
        str(model_path), sess_options=options, providers=execution_providers(device)
    )
