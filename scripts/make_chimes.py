"""Make the shipped chimes (audio_assets/*.wav): soft bell tones, so they can be remade or tuned.

    python scripts/make_chimes.py

Each chime is a few inharmonic partials (the ratios of a small bell) with exponential decays,
a short attack so it does not click, and a fade to true silence at its end. Deterministic.
"""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 44100
OUT = Path(__file__).resolve().parent.parent / "audio_assets"

# (frequency ratio, amplitude, seconds to decay by 60 dB)
_BELL = [(1.0, 1.0, 1.7), (2.0, 0.35, 1.1), (2.76, 0.28, 0.8), (5.40, 0.10, 0.45), (8.93, 0.04, 0.3)]
_SOFT = [(1.0, 1.0, 1.1), (2.0, 0.20, 0.7), (3.0, 0.06, 0.4)]
# a singing bowl: low, long, few overtones
_BOWL = [(1.0, 1.0, 2.6), (2.71, 0.30, 1.6), (5.15, 0.08, 0.8)]


def chime(base_hz: float, partials: list[tuple[float, float, float]], seconds: float, peak_dbfs: float) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    x = np.zeros_like(t)
    for ratio, amp, t60 in partials:
        decay = np.exp(-t * np.log(1000) / t60)
        # two slightly detuned copies give a bell's slow beating
        x += amp * decay * 0.5 * (np.sin(2 * np.pi * base_hz * ratio * t) + np.sin(2 * np.pi * base_hz * ratio * 1.0025 * t))
    attack = int(RATE * 0.004)
    x[:attack] *= np.linspace(0, 1, attack)
    tail = int(RATE * 0.25)
    x[-tail:] *= np.linspace(1, 0, tail) ** 2
    return x / np.max(np.abs(x)) * 10 ** (peak_dbfs / 20)


def write(path: Path, x: np.ndarray) -> None:
    pcm = np.round(x * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def main() -> None:
    OUT.mkdir(exist_ok=True)
    # Each chime NAME has NAME.wav (between exercises) and NAME-soft.wav (at a side switch).
    write(OUT / "bell.wav", chime(587.33, _BELL, 1.8, -3.0))  # D5
    write(OUT / "bell-soft.wav", chime(880.0, _SOFT, 1.2, -9.0))  # A5, quieter
    write(OUT / "bowl.wav", chime(293.66, _BOWL, 2.5, -3.0))  # D4
    write(OUT / "bowl-soft.wav", chime(440.0, _BOWL, 1.4, -9.0))  # A4, quieter
    print(f"wrote bell, bell-soft, bowl and bowl-soft in {OUT}")


if __name__ == "__main__":
    main()
