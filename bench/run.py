"""Benchmark: how close a build stays to the unavoidable cost of its work, and its memory.

    python bench/run.py                    # seed, 60-minute and 3-hour routines, 3 runs each
    python bench/run.py --sizes seed,60 --runs 1
    python bench/run.py --sizes seed --music calm     # the same builds with a music bed under them

For each routine it prints, as medians over the runs:
  cold   a build with an empty cache (every line spoken, the session mixed and encoded)
  warm   the same build again, everything cached (an unchanged rebuild reuses the stored mix)
  remix  a build whose clips are all cached but whose mix is not (what a rebuild costs after
         a change that alters the audio but no line, e.g. --volume): mixed and encoded again
  floor  the same lines spoken one after another by the same engine, plus encoding the same
         number of samples to MP3: the work no build can avoid
  ratios cold/floor, warm/cold and remix/floor, and the peak resident memory (RSS) of the cold
         build (the largest of the build process and its worker processes).
Each build runs as its own process (`python -m voiceguide build`), as a user would run it.
This is a benchmark, not a test: nothing here passes or fails.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "routines" / "lower-back-relief.yaml"


def generated_routine(minutes: int, folder: Path) -> Path:
    """A routine of about `minutes` minutes: the seed's exercises again and again, each round with
    its own names and a numbered first line, so every round is new speech (as a long class is)."""
    import yaml

    seed = yaml.safe_load(SEED.read_text())
    exercises, total, budget = [], 0, minutes * 60 - 40  # about 40 s for intro and outro
    for round_no in range(1, 10_000):
        for ex in seed["exercises"]:
            minutes_part, seconds_part = str(ex["duration"]).split(":")
            seconds = int(minutes_part) * 60 + int(seconds_part)
            if total + seconds > budget:
                break
            ex = dict(ex, name=f"{ex['name']} round {round_no}")
            ex["instructions"] = [f"Round {round_no}. {ex['instructions'][0]}"] + list(ex["instructions"][1:])
            exercises.append(ex)
            total += seconds
        else:
            continue
        break
    data = {k: v for k, v in seed.items() if k not in ("exercises", "duration")}
    data["title"] = f"Generated {minutes} Minutes"
    data["exercises"] = exercises
    path = folder / f"generated-{minutes}.yaml"
    class _Plain(yaml.SafeDumper):  # write every repeated list out in full: routines refuse many aliases
        def ignore_aliases(self, data):
            return True

    path.write_text(yaml.dump(data, Dumper=_Plain, sort_keys=False))
    return path


def timed_build(routine: Path, out: Path, cache: Path, flags: tuple[str, ...] = ()) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one build in its own process."""
    env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "voiceguide", "build", str(routine), "-q", "-o", str(out), *flags],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build of {routine} failed: {err}")
    return seconds, usage.ru_maxrss / 1024


def floor_seconds(plan_json: Path) -> float:
    """Speak the plan's lines one after another with the same engine and settings, then encode as
    many samples to MP3: what any build of this session must do."""
    code = f"""
import json, sys, time, tempfile, numpy as np
from pathlib import Path
from voiceguide.audio import SAMPLE_RATE
from voiceguide.engines.base import Utterance
from voiceguide.plan import PlanOptions
from voiceguide.speech import SpokenClips, VoiceSettings
from voiceguide.voice import get_engine
from voiceguide.cache import ClipCache
from voiceguide.mp3 import encode_mp3
plan = json.loads(Path({str(plan_json)!r}).read_text())
made = plan["made_with"]
engine = get_engine(made["engine"].split(" ")[0])
with tempfile.TemporaryDirectory() as tmp:
    clips = SpokenClips(engine, VoiceSettings(engine=engine.name, voice=made["voice"], rate_wpm=made["rate_wpm"]),
                        ClipCache(Path(tmp) / "cache"))
    lines = list(dict.fromkeys((e["text"], e["role"]) for e in plan["events"] if e["kind"] == "speech"))
    native = clips.rate_for(Utterance("x"))  # calibrated once, outside the timing
    start = time.perf_counter()
    for text, role in lines:
        rate = native * (PlanOptions().name_rate_percent if role in ("name", "title") else 100) // 100
        audio = engine.synthesize(text, clips.voice, rate)
    speak = time.perf_counter() - start
    samples = audio.to_float()
    n = plan["duration_ms"] * SAMPLE_RATE // 1000
    pcm = (np.resize(samples, n) * 20000).astype("<i2")
    start = time.perf_counter()
    with open(Path(tmp) / "x.mp3", "wb") as out:
        encode_mp3((pcm[i:i + SAMPLE_RATE * 10] for i in range(0, n, SAMPLE_RATE * 10)), SAMPLE_RATE, out,
                   made["bitrate_kbps"])
    print(speak + time.perf_counter() - start)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="seed,60,180", help="seed and/or minutes of generated routines")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--music", help="build with this music bed (--music of voiceguide build: calm, a file)")
    args = parser.parse_args()
    flags = ("--music", args.music) if args.music else ()
    rows = []
    with tempfile.TemporaryDirectory(prefix="voiceguide-bench-") as tmp:
        folder = Path(tmp)
        for size in args.sizes.split(","):
            routine = SEED if size == "seed" else generated_routine(int(size), folder)
            cold, warm, remix, floor, rss = [], [], [], [], []
            for run in range(args.runs):
                cache = folder / f"cache-{size}-{run}"
                out = folder / f"{size}-{run}.mp3"
                seconds, peak = timed_build(routine, out, cache, flags)
                cold.append(seconds)
                rss.append(peak)
                warm.append(timed_build(routine, folder / f"{size}-{run}-warm.mp3", cache, flags)[0])
                shutil.rmtree(cache / "sessions")  # keep the clips, forget the stored mix
                remix.append(timed_build(routine, folder / f"{size}-{run}-remix.mp3", cache, flags)[0])
                floor.append(floor_seconds(out.with_suffix(".json")))
                print(f"  {size} run {run + 1}: cold {seconds:.1f} s, warm {warm[-1]:.1f} s, "
                      f"remix {remix[-1]:.1f} s, floor {floor[-1]:.1f} s, {peak:.0f} MB", file=sys.stderr)
            plan = json.loads(out.with_suffix(".json").read_text())
            med = statistics.median
            rows.append((routine.stem if size == "seed" else f"generated {size} min",
                         plan["duration_ms"] / 60000, med(cold), med(warm), med(remix), med(floor),
                         med(cold) / med(floor), med(warm) / med(cold), med(remix) / med(floor), med(rss)))
    print(f"\n| {'routine':<20} | {'length':>7} | {'cold s':>6} | {'warm s':>6} | {'remix s':>7} | {'floor s':>7} "
          f"| {'cold/floor':>10} | {'warm/cold':>9} | {'remix/floor':>11} | {'peak RSS MB':>11} |")
    print("|" + "|".join("-" * (w + 2) for w in (20, 7, 6, 6, 7, 7, 10, 9, 11, 11)) + "|")
    for name, minutes, c, w, m, f, cf, wc, mf, r in rows:
        print(f"| {name:<20} | {minutes:>6.1f}m | {c:>6.1f} | {w:>6.1f} | {m:>7.1f} | {f:>7.1f} | {cf:>10.2f} "
              f"| {wc:>9.2f} | {mf:>11.2f} | {r:>11.0f} |")
    music = f"; music: {args.music}" if args.music else ""
    print(f"\n(medians of {args.runs} runs; python {sys.version.split()[0]}, {os.cpu_count()} cores{music})")


if __name__ == "__main__":
    main()
