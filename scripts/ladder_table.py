"""Per-family severity-ladder agreement (docs/model_card_default_fr_v2.md) of full-reference models and metrics.

  .venv/bin/python scripts/ladder_table.py [default default-v1 visqol twof ...]

Clean clips: the bundled example vocal (48 kHz) and two sentences of espeak-ng speech. For each family of
audioqual.eval.ladders, the Spearman correlation between each measure and the severity order, averaged over
the clips (1 = every rung in the right order). Models are loaded by name; other names are registered metrics.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from audioqual.eval.ladders import ladder_agreement
from audioqual.io import AudioLoadOptions, load_audio
from audioqual.models.registry import NAMED_MODELS

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ("The quick brown fox jumps over the lazy dog while the sun sets slowly.",
             "Please call Stella and ask her to bring these things with her from the store.")


def clean_clips() -> list[np.ndarray]:
    options = AudioLoadOptions(sample_rate=48000)
    clips = [load_audio(ROOT / "audioqual" / "models" / "examples" / "reference.flac", options)[0]]
    with tempfile.TemporaryDirectory() as folder:
        for index, sentence in enumerate(SENTENCES):
            path = Path(folder) / f"speech{index}.wav"
            subprocess.run(["espeak-ng", "-w", str(path), sentence], check=True)
            clips.append(load_audio(path, options)[0])
    return clips


def measure_for(name: str):
    if name in NAMED_MODELS:
        from audioqual.io.pair import LoadedAudio
        from audioqual.models.registry import load_fr_scorer

        scorer = load_fr_scorer(name)

        def model_measure(reference, test, rate):
            import soxr

            ref, tst = (soxr.resample(x.mean(axis=0), rate, scorer.sample_rate).astype(np.float32)
                        for x in (reference, test))
            score = scorer.compare_loaded(LoadedAudio("<reference>", ref, rate), LoadedAudio("<test>", tst, rate))
            return score.scores.get("score_raw", -score.distance)

        return model_measure, True
    from audioqual.metrics.registry import create

    metric = create(name)
    metric.ensure_ready()
    return (lambda reference, test, rate: metric.score_pair(reference, test, rate)[metric.info.name],
            metric.info.higher_is_better)


def main(names: list[str]) -> int:
    clips = clean_clips()
    table = {}
    for name in names:
        measure, higher = measure_for(name)
        table[name] = {r.family: r.srcc for r in ladder_agreement(measure, clips, 48000, higher_is_better=higher)}
        print(f"{name}: done", file=sys.stderr, flush=True)
    families = list(next(iter(table.values())))
    print("| family | " + " | ".join(names) + " |")
    print("|:---|" + "---:|" * len(names))
    for family in families:
        print(f"| {family} | " + " | ".join(f"{table[n][family]:+.2f}" for n in names) + " |")
    print("| mean | " + " | ".join(f"{np.mean(list(table[n].values())):+.2f}" for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["default", "default-v1", "visqol", "twof"]))
