"""Make the shipped music bed (audio_assets/music/calm.ogg): a slow, soft synthesized pad, so it can be
remade or tuned, and carries no licence but the project's.

    python scripts/make_music.py

Four chords (D major 7, B minor 7, G major 7, A with a suspended fourth), 8 s each, a 32 s cycle: each
note a few soft harmonics in two slightly detuned copies that beat slowly, each chord swelling in and
out of the next, and a faint band of noise for air. Every frequency is a whole multiple of 1/32 Hz
and every slow change a whole number of cycles in 32 s, so the pad repeats itself exactly every 32 s:
40 s of it let voiceguide's loop finder go round it without a seam (and show that it finds the
repeat). Deterministic: the same bytes every time (the Ogg stream's serial number, which libsndfile
draws at random, is set to a fixed one).
"""
from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import soundfile

RATE = 44100
CYCLE_S = 32
LENGTH_S = 40
OUT = Path(__file__).resolve().parent.parent / "audio_assets" / "music" / "calm.ogg"

_CHORDS = [  # Hz
    (146.83, 220.00, 277.18, 369.99),  # D3 A3 C#4 F#4
    (123.47, 185.00, 220.00, 293.66),  # B2 F#3 A3 D4
    (98.00, 146.83, 185.00, 246.94),   # G2 D3 F#3 B3
    (110.00, 164.81, 220.00, 293.66),  # A2 E3 A3 D4
]
_HARMONICS = [(1, 1.0), (2, 0.30), (3, 0.10), (4, 0.04)]
_DETUNE = 0.0008
_SERIAL = 0x766F6963  # "voic"


def _on_grid(hz: float) -> float:
    """The nearest frequency that repeats exactly in a cycle."""
    return round(hz * CYCLE_S) / CYCLE_S


def pad(seconds: int = LENGTH_S) -> np.ndarray:
    t = np.arange(seconds * RATE) / RATE
    slot = CYCLE_S / len(_CHORDS)
    # each chord's weight: a bump around the middle of its slot, wrapping round the cycle, normalised so
    # that the weights always add up to one (two neighbouring chords blend in the seconds between)
    bumps = []
    for j in range(len(_CHORDS)):
        d = (t - (j + 0.5) * slot + CYCLE_S / 2) % CYCLE_S - CYCLE_S / 2
        bumps.append(np.clip(np.cos(np.pi * d / (2 * slot)), 0, None) ** 4)
    total = np.sum(bumps, axis=0)
    x = np.zeros_like(t)
    for j, chord in enumerate(_CHORDS):
        voice = np.zeros_like(t)
        for n, note in enumerate(chord):
            shimmer = 1 + 0.15 * np.sin(2 * np.pi * (n + 1) * t / CYCLE_S + n)
            for k, amp in _HARMONICS:
                for detune in (1 - _DETUNE, 1 + _DETUNE):
                    voice += amp * shimmer * np.sin(2 * np.pi * _on_grid(note * k * detune) * t + 0.7 * n * k)
        x += voice * bumps[j] / total / len(chord)
    x += 0.03 * _air(seconds)
    return (x / np.abs(x).max() * 10 ** (-3 / 20)).astype(np.float32)


def _air(seconds: int) -> np.ndarray:
    """Soft noise between 400 Hz and 3 kHz that repeats every cycle (shaped in one cycle's spectrum)."""
    n = CYCLE_S * RATE
    spectrum = np.fft.rfft(np.random.default_rng(20240514).normal(size=n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum *= np.exp(-0.5 * (np.log(np.maximum(freqs, 1.0) / 1100) / 0.5) ** 2)
    cycle = np.fft.irfft(spectrum, n)
    cycle /= np.abs(cycle).max()
    return np.resize(cycle, seconds * RATE)


def fixed_serial(ogg: bytes, serial: int = _SERIAL) -> bytes:
    """The Ogg stream with every page's serial number set to `serial` and its checksum made again."""
    out = bytearray(ogg)
    at = 0
    while at < len(out):
        if out[at:at + 4] != b"OggS":
            raise ValueError(f"byte {at}: not an Ogg page")
        segments = out[at + 26]
        size = 27 + segments + sum(out[at + 27:at + 27 + segments])
        out[at + 14:at + 18] = struct.pack("<I", serial)
        out[at + 22:at + 26] = b"\0\0\0\0"
        out[at + 22:at + 26] = struct.pack("<I", _ogg_crc(bytes(out[at:at + size])))
        at += size
    return bytes(out)


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    soundfile.write(buffer, pad(), RATE, format="OGG", subtype="VORBIS", compression_level=0.6)
    OUT.write_bytes(fixed_serial(buffer.getvalue()))
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB, {LENGTH_S} s)")


if __name__ == "__main__":
    main()
