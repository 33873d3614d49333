"""Which not-a-digit detector to ship, chosen on validation data only: prints JSON.

    python benchmarks/detector_choice.py --out DIR [--candidate NAME ...]

Candidates, each trained as `make model` trains the shipped detector (model_build's positives,
negatives, epochs, seed and threshold rule) with one change (the figures in
docs/measurements/detector-choice.json were measured with the detector shipped before, trained
on fonts alone with NEGATIVE_MIX, as "shipped"; writing_negatives won and is now model_build's):
- shipped: the detector in the package, not retrained;
- writer_positives: digits by TRAINING synthetic writers (digitnet.data.writer) added to the
  positives and to the digits the threshold is set on, so the detector does not reject the digit
  forms the reading model now learns;
- writing_negatives: the same, and the writing-like training families (letters in the training
  fonts, stroke fragments, touching and crossed-out digits: negatives.WRITING_KINDS) in the mix;
- larger: writing_negatives on a network twice as wide trained twice as long (model_build's
  READING_DETECTOR_WIDTHS and _EPOCHS now), its threshold flagging at most 1% of EACH kind of
  validation digit (detector_train.each_kind_threshold; run with `--candidate larger`: shipped then stands for
  writing_negatives, the detector in the package, whose threshold flags 1% of the kinds pooled).
  Tried first with the pooled threshold, it flagged every training family more but 2.4% of the
  writers' validation digits (1.4% for the shipped one), so the rule turned it down; a threshold
  that no kind of digit pays for more than the others was the change. It won, but its 900 kB
  LiteRT file and 925 kB .keras file took the shipped model past 2 MB (3.1 MB), so:
- compact: the same convolutions (32, 64) with a hidden layer of 32, 6 epochs (as many weights as
  the first detector's);
- longer: the first detector's network (16, 32, 64) trained 6 epochs instead of 3.
  Both with the per-kind threshold; the baseline for the rule is then the detector packaged before
  the larger one (its figures: "shipped" in docs/measurements/detector-choice.json). longer won
  and shipped; then a detector's LiteRT file came to store float16 weights (half the file) and the
  package stopped carrying detector.keras, so `--candidate larger` was run again against it
  (docs/measurements/detector-choice-larger.json, scored from the float16 file): larger won, and
  its network is the one `make model` trains now (with marks among its negatives, below).
Validation, no held-out family and no test image: 2,000 digits by TRAINING-split writers and 2,000
training-font digits from seeds no detector trains on, MNIST's validation split, and 300 images
of each training family drawn with a seed no detector trains on. For each: the share the detector
alone flags. The rule, fixed before any figure was read: the highest mean share flagged over the
training families, among candidates that flag no more of the writers' validation digits than the
shipped detector does. Since the wider detector's choice, validation FAMILIES are reported too
(negatives.VALIDATION_KINDS: letters in the validation fonts, doodles), and `--rule families`
chooses on them instead: the highest mean share flagged over the validation families, among
candidates flagging no more of the writers' validation digits than the shipped detector. Fixed
before its first candidate trained:
- marks: the shipped detector (twice as wide, 6 epochs) with marks among its writing-like
  negatives (detector_train.MARKS_NEGATIVE_MIX: bars, crossings, chevrons, rings with dots from
  random parameters, digitnet.data.writer.mark_page; the writing share split five ways). Not
  taken (docs/measurements/detector-choice-marks.json): 1.20% of the writers' digits flagged
  against 0.95%, though doodles rose 65.7 -> 77.7%; letters in the validation fonts fell 74.3 ->
  69.3%, as the training letters' share fell from 7.5% to 6%. So, by the same rule, fixed before
  it trained:
- marks_own_share: the shipped mix's writing kinds at their shares, marks with a share of their
  own as large, taken from the non-writing families. Taken (detector-choice-marks.json): 0.85% of
  the writers' digits flagged, validation families mean 77.8% against 70.0% (letters in the
  validation fonts 75.0 / 74.3%, doodles 80.7 / 65.7%); its mix is detector_train's
  MARKS_OWN_SHARE_MIX (the one before WRITING_NEGATIVE_MIX).
Then letters and symbols in the synthetic writer's hand (digitnet.data.written_letters: characters
no reader takes for a digit, none of the doodles' shapes), by the same rule, fixed before it trained:
- written_letters: the shipped detector's network and mix, and written letters with a share of
  their own as large as the marks', taken from the non-writing families
  (detector_train.WRITTEN_LETTERS_NEGATIVE_MIX). Not taken
  (docs/measurements/detector-choice-written-letters.json): it flags fewer training writers' digits
  (0.25% against 0.85%) and fewer of every family: validation letters 64.0 / 75.0%, doodles 69.0 /
  80.7%, even the written letters it trained on 72.7 / 79.3%. Its threshold, set on the digits
  like every candidate's, came out far lower (logit -4.79 against -2.17): written letters are
  drawn as the writers' digits are, and the digits the detector is least sure of went lower with
  them.
Since then a third validation family, empty fields of printed forms (digitnet.data.empty_fields:
frames, combs, guide lines, squared paper; docs/measurements/detector-validation-fields.json),
and `--rule families` means over all three from the next candidate on; the candidates above were
chosen over the two before it. By that rule, fixed before it trained:
- writer_weighted: the shipped detector, with four times as many digits by training writers
  among its positives (20,000 instead of 5,000: they were 6% of the positives, yet the writers'
  digits are the kind that sets the threshold, the kind it is least sure of) and among the digits
  the threshold is set on (4,000 instead of 1,000: a 1% quantile of 1,000 is the tenth lowest
  digit, and the written-letters candidate's threshold fell far below the validation writers').
  Taken (docs/measurements/detector-choice-writer-weighted.json): 0.70% of the writers' digits
  flagged (0.85%), validation letters 82.3 / 75.0%, doodles 81.3 / 80.7%, empty fields 71.4 /
  71.4% (mean 78.3 / 75.7%); MNIST validation digits flagged 0.38 / 0.14%. So, by the same rule,
  fixed before it trained:
- writer_weighted_x8: twice as many again (40,000 writers' digits among the positives, 8,000 for
  the threshold): does more of the kind that sets the threshold keep raising it? Yes: taken
  (docs/measurements/detector-choice-writer-weighted-x8.json): 0.55% of the writers' digits
  flagged (0.70%), validation letters 90.3 / 82.3%, doodles 89.7 / 81.3%, empty fields 70.0 /
  71.4% (mean 83.3 / 78.3%); training-font digits flagged 0.60 / 0.15%, MNIST validation 0.68 /
  0.38%; threshold logit -0.79 / -1.89. Its counts are model_build's DETECTOR_WRITER_DIGITS and
  THRESHOLD_WRITER_DIGITS now.
Then one for the tensor APIs, which take a 28x28 array as it comes: raw uniform noise sent that way
was flagged 77%, 26.6%, 8.5% and 80.4% by the last four detectors, none of which trained on it
(the negatives' "noise" family preprocesses to blank, so its share is in effect empty). Its rule,
`--rule noise`, fixed before it trained: taken if it flags more of the raw-noise validation draw
than the shipped detector, no more training writers' validation digits, and a mean over the
validation families at most one point lower (three images of 300):
- raw_noise: the shipped detector, the "noise" share of its mix given to raw noise tensors
  (negatives "raw_noise": uniform noise at a random brightness, or sparse specks;
  detector_train.RAW_NOISE_NEGATIVE_MIX). Its first run trained with 5,000 and 1,000 writers'
  digits by a slip in WRITER_COUNTS, two changes at once
  (docs/measurements/detector-choice-raw-noise-5000-writers.json: raw noise 94.0%, writers' digits
  0.75%, families' mean 66.3%, threshold -4.14); run again as described, with make model's
  40,000 and 8,000: taken (docs/measurements/detector-choice-raw-noise.json): raw noise 100% /
  39.0%, writers' digits 0.50 / 0.55%, validation letters 87.3 / 90.3%, doodles 86.3 / 89.7%,
  empty fields 95.3 / 70.0% (mean 89.7 / 83.3%); threshold -1.36 / -0.79. Its mix is
  detector_train's READING_NEGATIVE_MIX now.
Then, by `--rule families`, fixed before it trained:
- writer_weighted_x16: the shipped detector (raw_noise) with twice as many writers' digits again
  (80,000 among the positives, 16,000 for the threshold): x4 and x8 each raised the threshold and
  the families flagged with it; does a third doubling still? Not taken
  (docs/measurements/detector-choice-writer-weighted-x16.json): fewer digits flagged (training
  writers' 0.30 / 0.50%, MNIST validation 0.48 / 0.74%, threshold logit 0.33 / -1.36) but the
  families' mean 0.1 point lower: validation letters 87.3 / 87.3%, doodles 84.3 / 86.3%, empty
  fields 97.0 / 95.3% (mean 89.5 / 89.7%); training 764 s. Its writers' digits were rendered in
  parts of 10,000 on both cores, each part from a seed of its own (commit 5d28260, withdrawn with
  it so that make model still draws the shipped detector's digits): trained again now, it draws
  them as the others do, from one seed.
Then, by the same rule, fixed before it trained:
- negatives_x2: the shipped detector with twice as many negatives (60,000 instead of 30,000, every
  family's share as before; a third as many MNIST digits re-rendered as users send them, so 20,000
  instead of 10,000, as train_on_mnist ties them). On their own validation draws the training
  families are flagged only 83-91% (shapes, stroke fragments, marks, written letters, letters):
  the detector does not yet fit the families it trains on, and has 2,000 images of each. Not
  taken (docs/measurements/detector-choice-negatives-x2.json): its training families' draws rose
  (shapes 91.7 / 82.7%, stroke fragments 92.7 / 86.0%, letters in training fonts 93.7 / 89.3%) and
  validation letters 92.3 / 87.3%, but the empty fields fell to 71.4 / 95.3% (mean 83.3 / 89.7%)
  and it flags more of the writers' digits (0.55 / 0.50%), out by both halves of the rule;
  training 929 s.
Nor would flagging on both signals at once (benchmarks/joint_doubt.py,
docs/measurements/joint-doubt.json): on these validation draws, flagging also where the sum of the
detector's margin and the network's calibrated confidence's (as log-odds, weighted 0.25 to 4) is
low flags no more of the families than raising the detector's threshold alone at the same cost
(half a point more of each kind of digit: the families' mean 93.4-93.8% by the sum, 93.8% by the
detector's threshold, 92.3% now; the reading model's flags, every reason). The shipped thresholds
are one point on one trade-off curve.
Then, by `--rule families`, fixed before it trained:
- hard_forms: the shipped detector with 8,000 more digits by training writers among its positives
  (its threshold digits as they are), written in the forms it is least sure of. Which forms:
  `--least-sure` reads LEAST_SURE_COUNT digits by training writers in the forms they prefer
  (LEAST_SURE_SEED, a draw neither training, thresholds nor validation use) and gives each
  form's share flagged by the shipped detector; those flagged at least twice as often as the draw
  as a whole are HARD_FORMS (0.65% in all: 1 plain 7.9%, 1 foot 2.5%, 4 long stem 2.5%, 1 short
  flag 2.1%, 9 curved stem 2.0%, 4 closed 1.8%). A single stroke is the least digit-like digit to
  it; more of them among the positives should raise the threshold as more writers' digits did.
  It did (logit 0.21 against -1.36), and the training families' draws rose (shapes 91.0 / 82.7%,
  letters in training fonts 94.3 / 89.3%, stroke fragments 90.3 / 86.0%), but NOT taken
  (docs/measurements/detector-choice-hard-forms.json): the validation families' mean 80.5 / 89.7%,
  the empty fields 68.7 / 95.3% (validation letters 87.7 / 87.3%, doodles 85.0 / 86.3%), as the
  twice-the-negatives candidate lost them; training writers' digits flagged 0.40 / 0.45%,
  training-font digits 0.95 / 0.40%; training 499 s.
Three candidates have now moved the empty fields by about 25 points either way. How much of that
is the candidate, and how much the draw of training? Not a candidate but a measure of the noise:
- shipped_seed1: the shipped detector's recipe exactly, trained from seed 1 instead of 0 (its
  negatives, writers' and fonts' digits drawn from seed 1 too, as model_build draws them).
  (docs/measurements/detector-seed-noise.json): the empty fields 95.3% as from seed 0, validation
  letters 83.3 / 87.3%, doodles 84.3 / 86.3% (mean 87.7 / 89.7%), fewer digits flagged (training
  writers' 0.15 / 0.45%, MNIST validation 0.30 / 0.74%), threshold -1.51 / -1.36; training 524 s.
  So a seed moves the families' mean by about two points, and the 25-point swings of the empty
  fields are the candidates' own. Which fields: `--fields-by-kind` (FIELDS_PER_KIND of each kind,
  docs/measurements/detector-empty-fields-by-kind.json): hard_forms lost the guide lines alone
  (31.5% flagged against 100% shipped and from seed 1), which preprocess to a lone dash; boxes,
  combs and squared paper within two points. More single-stroke digits among the positives taught
  it that a single straight stroke is a digit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import writers  # noqa: E402
from machine import describe_machine  # noqa: E402

NEGATIVES_PER_KIND, NEGATIVES_SEED = 300, 9_301
# Each candidate: its network ("first": DETECTOR's widths and epochs, as `digitnet detector train`;
# "wide": model_build's READING_DETECTOR_*, the shipped detector's; else (widths, epochs)) and the
# name of its negatives' mix in digitnet.jobs.detector_train.
CANDIDATES = {
    "writer_positives": ("first", "NEGATIVE_MIX"),
    "writing_negatives": ("first", "WRITING_NEGATIVE_MIX"),
    "larger": ("wide", "WRITING_NEGATIVE_MIX"),
    "compact": (((32, 64, 32), 6), "WRITING_NEGATIVE_MIX"),
    "longer": (((16, 32, 64), 6), "WRITING_NEGATIVE_MIX"),
    "marks": ("wide", "MARKS_NEGATIVE_MIX"),
    "marks_own_share": ("wide", "MARKS_OWN_SHARE_MIX"),  # taken
    "written_letters": ("wide", "WRITTEN_LETTERS_NEGATIVE_MIX"),
    "writer_weighted": ("wide", "MARKS_OWN_SHARE_MIX"),  # taken, then:
    "writer_weighted_x8": ("wide", "MARKS_OWN_SHARE_MIX"),  # taken: its writer counts are make model's
    "raw_noise": ("wide", "RAW_NOISE_NEGATIVE_MIX"),  # taken: the shipped detector's mix now
    "writer_weighted_x16": ("wide", "RAW_NOISE_NEGATIVE_MIX"),
    "negatives_x2": ("wide", "RAW_NOISE_NEGATIVE_MIX"),
    "hard_forms": ("wide", "RAW_NOISE_NEGATIVE_MIX"),
    "shipped_seed1": ("wide", "RAW_NOISE_NEGATIVE_MIX"),
}
SEEDS = {"shipped_seed1": 1}  # a candidate's training seed, where not 0
# Digits by training writers among a candidate's positives and its threshold digits, where not
# model_build's DETECTOR_WRITER_DIGITS and THRESHOLD_WRITER_DIGITS (every candidate before the
# writer_weighted ones had 5,000 and 1,000; writer_weighted_x8 and raw_noise 40,000 and 8,000).
TRAINED_WITH_5000_WRITERS = (
    "writer_positives",
    "writing_negatives",
    "larger",
    "compact",
    "longer",
    "marks",
    "marks_own_share",
    "written_letters",
)
WRITER_COUNTS = {
    **{name: (5_000, 1_000) for name in TRAINED_WITH_5000_WRITERS},
    "writer_weighted": (20_000, 4_000),
    "writer_weighted_x8": (40_000, 8_000),
    "raw_noise": (40_000, 8_000),
    "writer_weighted_x16": (80_000, 16_000),
}
# Negative images rendered for a candidate, where not DETECTOR.negatives (30,000).
NEGATIVE_COUNTS = {"negatives_x2": 60_000}
# The forms the shipped detector is least sure of (--least-sure), and a candidate's extra positives in them.
LEAST_SURE_COUNT, LEAST_SURE_SEED = 8_000, 9_008
HARD_FORMS = ("1 plain", "1 foot", "4 long stem", "1 short flag", "9 curved stem", "4 closed")
EXTRA_FORMS = {"hard_forms": (HARD_FORMS, 8_000)}


def train_candidate(name: str, data, out_dir: Path) -> None:
    """As `make model` trains the shipped detector (jobs.model_build.train_reading_detector: writer
    digits among positives and threshold digits), with the network and negatives' mix the candidate
    names."""
    from digitnet.jobs import detector_train, model_build
    from digitnet.training.config import DETECTOR

    network, mix_name = CANDIDATES[name]
    widths, epochs = {
        "first": (DETECTOR.widths, DETECTOR.epochs),
        "wide": (model_build.READING_DETECTOR_WIDTHS, model_build.READING_DETECTOR_EPOCHS),
    }.get(network, network)
    mix = getattr(detector_train, mix_name)
    counts = WRITER_COUNTS.get(
        name, (model_build.DETECTOR_WRITER_DIGITS, model_build.THRESHOLD_WRITER_DIGITS)
    )
    model_build.train_reading_detector(
        data,
        out_dir,
        negatives=NEGATIVE_COUNTS.get(name, DETECTOR.negatives),
        seed=SEEDS.get(name, 0),
        mix=mix,
        widths=widths,
        epochs=epochs,
        writer_counts=counts,
        extra_forms=EXTRA_FORMS.get(name, ()),
    )


FIELDS_PER_KIND, FIELDS_SEED = 200, 9_401


def empty_fields_by_kind(folders: dict) -> dict:
    """Each detector's share flagged of FIELDS_PER_KIND empty fields of each kind (digitnet.data.
    empty_fields.FIELD_KINDS), preprocessed as every negative is: which part of the family moved."""
    from digitnet.data.empty_fields import FIELD_KINDS, empty_field
    from digitnet.data.negatives import preprocessed

    shares = {}
    for kind in FIELD_KINDS:
        rng = np.random.default_rng([FIELDS_SEED, FIELD_KINDS.index(kind)])
        images = np.stack([preprocessed(empty_field(rng, kind)) for _ in range(FIELDS_PER_KIND)])
        shares[kind] = flagged_shares_of(folders, images)
    return shares


def flagged_shares_of(folders: dict, images: np.ndarray) -> dict[str, float]:
    return {name: flagged_shares(folder, {"set": images})["set"] for name, folder in folders.items()}


def trained_folders(out: Path) -> dict[str, Path]:
    """The detectors trained in `out`, by folder name."""
    return {p.name: p for p in sorted(Path(out).iterdir()) if (p / "detector.json").is_file()}


def least_sure_forms() -> dict:
    """The shipped detector's share flagged of each form, on LEAST_SURE_COUNT digits by training
    writers in the forms they prefer, most flagged first; and of the draw in all."""
    from digitnet.data.writer import write_digits
    from digitnet.reading.detector import load_shipped_detector

    written = write_digits(LEAST_SURE_COUNT, "train", LEAST_SURE_SEED)
    flagged = load_shipped_detector().not_a_digit(written.images)
    shares = {form: float(flagged[written.forms == form].mean()) for form in dict.fromkeys(written.forms)}
    ranked = sorted(shares.items(), key=lambda item: -item[1])
    return {"all": round(float(flagged.mean()), 4), "forms": {k: round(v, 4) for k, v in ranked}}


# The digit sets by their names here, and by benchmarks/writers.py's (which draws them).
DIGIT_SETS = {
    "digits: training writers": "train_writers_validation",
    "digits: training fonts": "train_fonts_validation",
    "digits: MNIST validation": "mnist_validation",
}


def labelled_digit_sets(data) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(images, labels) of the validation digits: writers.validation_sets, 2,000 of each drawn kind."""
    chosen_on = writers.validation_sets(data, 2000)
    return {name: chosen_on[key] for name, key in DIGIT_SETS.items()}


def negative_sets(data) -> dict[str, np.ndarray]:
    """NEGATIVES_PER_KIND images of each training family, from a seed no detector trains on, then
    of each validation family (negatives.VALIDATION_KINDS: what `--rule families` chooses on), from
    a stream of their own, so a family added at the end leaves the others' draws as they were."""
    from digitnet.data.negatives import TRAIN_KINDS, VALIDATION_KINDS, load_fashion, negative_images

    digits_u8 = np.round(data.validation.images[..., 0] * 255).astype(np.uint8)
    fashion = load_fashion("train")
    rng = np.random.default_rng(NEGATIVES_SEED)
    training = {
        f"negatives: {kind}": negative_images(kind, NEGATIVES_PER_KIND, rng, digits_u8, fashion)
        for kind in TRAIN_KINDS
    }
    rng = np.random.default_rng(NEGATIVES_SEED + 1)  # its own stream: the training draws stay as they were
    validation = {
        f"validation families: {kind}": negative_images(kind, NEGATIVES_PER_KIND, rng, digits_u8, fashion)
        for kind in VALIDATION_KINDS
    }
    return {**training, **validation}


def validation_sets(data) -> dict[str, np.ndarray]:
    digits = {name: images for name, (images, _) in labelled_digit_sets(data).items()}
    return {**digits, **negative_sets(data)}


def flagged_shares(detector_dir: Path | None, sets: dict) -> dict[str, float]:
    """detector_dir None: the shipped detector, read through its card as reading does."""
    from digitnet.reading.detector import load_detector, load_shipped_detector
    from digitnet.reading.uncertainty import too_faint_to_read

    detector = load_shipped_detector() if detector_dir is None else load_detector(detector_dir)
    shares = {}
    for name, images in sets.items():
        images = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
        if not name.startswith("digits"):
            images = images[~too_faint_to_read(images)]  # a blank input is flagged without the detector
        # None: every image of the family preprocessed to blank (uniform noise does), nothing to score
        shares[name] = round(float(detector.not_a_digit(images).mean()), 4) if len(images) else None
    return shares


RULES = {
    "training": "highest mean share flagged over the training families' validation draws, among "
    "candidates flagging no more training-writer validation digits than the shipped detector",
    "families": "highest mean share flagged over the VALIDATION families (no detector trains on "
    "them), among candidates flagging no more training-writer validation digits than the shipped "
    "detector",
    "noise": "highest share flagged of the raw-noise validation draw, among candidates flagging no "
    "more training-writer validation digits than the shipped detector and a mean over the "
    "VALIDATION families at most one point below the shipped detector's",
}
NOISE_RULE_MARGIN = 0.01  # --rule noise: how far below the shipped detector's the families' mean may fall


def choose(results: dict[str, dict[str, float]], rule: str = "training") -> str:
    limit = results["shipped"]["digits: training writers"]
    prefix = {"training": "negatives", "families": "validation families"}.get(rule, "validation families")

    def families_mean(shares: dict) -> float:
        return float(np.mean([v for k, v in shares.items() if k.startswith(prefix) and v is not None]))

    allowed = [name for name, shares in results.items() if shares["digits: training writers"] <= limit]
    if rule == "noise":
        floor = families_mean(results["shipped"]) - NOISE_RULE_MARGIN
        allowed = [name for name in allowed if families_mean(results[name]) >= floor]
        return max(allowed, key=lambda name: (results[name]["negatives: raw_noise"], name == "shipped"))
    return max(allowed, key=lambda name: families_mean(results[name]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="a folder for the trained candidates")
    parser.add_argument(
        "--candidate", action="append", default=[], choices=tuple(CANDIDATES), help="train only these"
    )
    parser.add_argument("--rule", choices=tuple(RULES), default="training", help="the docstring's")
    parser.add_argument("--least-sure", action="store_true", help="the forms the shipped detector doubts")
    parser.add_argument(
        "--fields-by-kind", action="store_true", help="empty fields flagged, kind by kind, by each in --out"
    )
    args = parser.parse_args()
    if args.least_sure:
        print(json.dumps({"benchmark": "detector_choice --least-sure", **least_sure_forms()}, indent=2))
        return 0
    if args.fields_by_kind:
        folders = {"shipped": None, **trained_folders(args.out)}
        report = {"benchmark": "detector_choice --fields-by-kind", **empty_fields_by_kind(folders)}
        print(json.dumps(report, indent=2))
        return 0

    from digitnet.data.mnist import load_mnist

    data = load_mnist()
    seconds = {}
    for name in args.candidate or ["writer_positives", "writing_negatives"]:
        if not (args.out / name / "detector.json").is_file():
            started = time.perf_counter()
            train_candidate(name, data, args.out / name)
            seconds[name] = round(time.perf_counter() - started, 1)
    sets = validation_sets(data)
    folders = {"shipped": None, **trained_folders(args.out)}
    results = {name: flagged_shares(folder, sets) for name, folder in folders.items()}
    report = {
        "benchmark": "detector_choice",
        "machine": describe_machine(),
        "rule": RULES[args.rule],
        "validation": results,
        "chosen": choose(results, args.rule),
        "training_seconds": seconds,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
