"""Clean (synthetic) speech rendered offline with the espeak-ng formant synthesiser.

Text: Harvard sentences (IEEE 1969 phonetically balanced lists). espeak-ng writes
22.05 kHz mono, so content stops at 11 kHz and the voice is robotic: good for
exercising the pipeline and speech mode, not a substitute for recorded speech.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from pathlib import Path

import soundfile as sf

from audioqual.errors import AudioqualError
from audioqual.io import save_audio
from audioqual.synth.common import RenderedItem, finish
from audioqual.synth.tools import espeak_executable

HARVARD_SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living.",
)
VOICES = ("en-us+m1", "en-us+f2", "en+m3", "en+f3", "en-us+m4", "en+f4", "en-us+m7", "en-us+f5")
WORDS_PER_MINUTE = (145, 160, 175)


def render_speech(count: int, out_dir: str | Path, seed: int = 0, min_seconds: float = 12.0) -> list[RenderedItem]:
    """Render `count` files of at least `min_seconds` of speech, each in a different voice and sentence mix."""
    program = espeak_executable()
    out_dir = Path(out_dir)
    items = []
    for index in range(count):
        rng = random.Random(f"{seed}:{index}")
        voice = VOICES[(seed + index) % len(VOICES)]
        speed = rng.choice(WORDS_PER_MINUTE)
        order = rng.sample(HARVARD_SENTENCES, len(HARVARD_SENTENCES))
        target = out_dir / f"speech-{index:03d}-{voice.replace('+', '_')}.wav"
        with tempfile.TemporaryDirectory(prefix="audioqual-speech-") as tmp:
            raw = Path(tmp) / "speech.wav"
            sentences = max(2, int(min_seconds / 2.0) + 1)
            while True:
                text = " ".join(order[:sentences])
                command = [program, "-v", voice, "-s", str(speed), "-w", str(raw), text]
                result = subprocess.run(command, capture_output=True, text=True, timeout=300)
                if result.returncode != 0 or not raw.exists():
                    raise AudioqualError(f"espeak-ng failed for voice {voice}: {(result.stderr or '').strip()[-300:]}")
                audio, rate = sf.read(str(raw), dtype="float32", always_2d=True)
                if audio.shape[0] / rate >= min_seconds or sentences >= len(order):
                    break
                sentences += 2
        audio = finish(audio.T, rate)
        save_audio(target, audio, rate, subtype="PCM_16")
        details = {"voice": voice, "words_per_minute": speed, "sentences": sentences, "sample_rate": rate,
                   "engine": "espeak-ng"}  # fmt: skip
        items.append(RenderedItem(target, "speech", " ".join(order[:2]), details, audio.shape[1] / rate))
    return items
