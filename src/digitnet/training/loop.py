"""train(config, run_dir, data) -> TrainResult: the tutorial's training, checkpointed and resumable.

The training steps of a chunk run inside one compiled TensorFlow function, with the whole
training set resident as a tensor: no Python work per step. Checkpoints land at chunk
boundaries, so an interrupted run continues exactly where it stopped.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitnet import layout
from digitnet.data.mnist import Mnist, Split
from digitnet.errors import DigitnetError
from digitnet.training import runs
from digitnet.training.augment import AffineRanges, StyleRanges, augment_batch, augment_seed
from digitnet.training.config import ConfigError, TrainConfig
from digitnet.training.inference import make_logits_fn
from digitnet.training.metrics import accuracy, cross_entropy
from digitnet.training.training_set import TrainingSet, training_set
from digitnet.util import locks
from digitnet.util.batches import predict_logits
from digitnet.util.fileio import atomic_save_keras


@dataclass(frozen=True)
class Progress:
    epoch: int  # 1-based, the epoch being trained
    epochs: int
    iteration: int  # steps taken so far in the run
    total_iterations: int
    loss: float  # mean training-batch loss over the last chunk (dropout on)
    batch_accuracy: float  # mean training-batch accuracy over the last chunk
    examples_per_second: float


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    epochs: int
    iterations: int
    validation_accuracy: float
    full_train_accuracy: float  # the whole training split, dropout off (history rows: a fixed subset)
    test_accuracy: float
    train_seconds: float  # wall time spent in training steps and per-epoch evaluation
    history: list[dict] = field(default_factory=list)


class TrainingInterrupted(Exception):
    """Ctrl-C: a checkpoint was saved; the run can be resumed."""

    def __init__(self, run_dir: Path, iteration: int):
        super().__init__(
            f"interrupted at iteration {iteration}; a checkpoint was saved. "
            f"Resume with: digitnet train --resume {run_dir}"
        )
        self.run_dir = run_dir
        self.iteration = iteration


class NonFiniteLossError(DigitnetError):
    """The training loss became NaN or infinite: the run diverged; its last checkpoint is kept."""

    def __init__(self, iteration: int, loss: float, learning_rate: float):
        super().__init__(
            f"training diverged: the loss became {loss} by iteration {iteration}; the run's last "
            f"checkpoint (from before) is kept and nothing after it was saved; start a new run with a "
            f"lower --lr (this one: {learning_rate:g})"
        )
        self.iteration = iteration


@dataclass
class EpochTally:
    """The running sums of the epoch being trained, kept across a Ctrl-C and resume so that its
    metrics row (batch_loss, elapsed_seconds) is the one an uninterrupted run writes."""

    epoch: int  # 0-based
    loss_sum: float = 0.0  # of each compiled call's mean batch loss
    chunks: int = 0  # compiled calls so far
    seconds: float = 0.0  # wall time of the epoch before this process took it up

    def add(self, loss: float) -> None:
        self.loss_sum, self.chunks = self.loss_sum + loss, self.chunks + 1

    def mean_loss(self) -> float:
        return self.loss_sum / self.chunks if self.chunks else float("nan")

    @classmethod
    def resumed(cls, checkpoint, epoch: int) -> EpochTally:
        """The tally a mid-epoch checkpoint saved for `epoch`; a fresh one otherwise."""
        progress = checkpoint.epoch_progress if checkpoint is not None else None
        if not progress or progress["epoch"] != epoch:
            return cls(epoch)
        return cls(epoch, float(progress["loss_sum"]), progress["chunks"], float(progress["seconds"]))


ProgressFn = Callable[[Progress], None]
EpochFn = Callable[[dict], None]
NoteFn = Callable[[str], None]


def _variables(model, optimizer) -> dict[str, object]:
    # Keyed by position, not by path: Keras numbers some paths per process
    # ("seed_generator_1"), so a rebuilt model may name the same variable differently.
    return {
        **{f"model:{i:03d}": v for i, v in enumerate(model.variables)},
        **{f"optimizer:{i:03d}": v for i, v in enumerate(optimizer.variables)},
    }


def capture_state(model, optimizer) -> dict[str, np.ndarray]:
    """Every model variable (dropout's RNG state included) and optimizer slot, by position."""
    return {name: np.array(variable) for name, variable in _variables(model, optimizer).items()}


def restore_state(model, optimizer, arrays: dict[str, np.ndarray]) -> None:
    variables = _variables(model, optimizer)
    if sorted(variables) != sorted(arrays):
        raise runs.RunError(
            "the checkpoint's variables do not match this network; was the run's config.json edited?"
        )
    for name, variable in variables.items():
        if tuple(variable.shape) != arrays[name].shape:
            raise runs.RunError(
                f"checkpoint variable {name} ({variable.path}) has shape "
                f"{arrays[name].shape}, the network expects {tuple(variable.shape)}"
            )
        variable.assign(arrays[name])


class CompiledSteps:
    """The training step: `count` optimizer steps in one compiled call, the batches gathered in-graph
    from the training split held as a tensor.

    steps(order, start, count) -> (mean batch loss, mean batch accuracy) takes batches
    order[start * batch_size:...] onwards, one epoch's shuffling being `order` (see TrainingSet.epoch_order).
    With `augment` (and `style`), each batch is augmented in-graph, seeded by (seed, iteration).
    label_smoothing moves that weight from the true class to all ten. With `replay` (fine-tuning:
    digitnet.jobs.finetune), each step's batch also holds `replay_batch` images of that split, taken
    as `replay_order` says and never augmented. graph(order) is the traced graph, for TensorBoard.
    """

    def __init__(
        self,
        model,
        optimizer,
        train: Split,
        batch_size: int,
        augment: AffineRanges | None = None,
        seed: int = 0,
        label_smoothing: float = 0.0,
        style: StyleRanges | None = None,
        replay: Split | None = None,
        replay_batch: int = 0,
    ):
        import tensorflow as tf

        self._tf = tf
        self.augment = augment
        self.style = style  # used only with `augment`, as in TrainConfig
        self.seed = seed
        self.label_smoothing = label_smoothing
        self.images = tf.constant(train.images)
        self.labels = tf.constant(train.labels.astype(np.int32))
        self.batch_size = batch_size
        self.replay = None
        if replay is not None and replay_batch > 0:
            self.replay = (tf.constant(replay.images), tf.constant(replay.labels.astype(np.int32)))
        self.replay_batch = replay_batch
        self.model = model
        self.optimizer = optimizer
        self.run = tf.function(self._run, jit_compile=False)

    def _run(self, order, start, count, replay_order):
        tf = self._tf
        model, optimizer, batch = self.model, self.optimizer, self.batch_size
        loss_sum = tf.constant(0.0)
        correct_sum = tf.constant(0.0)
        for step in tf.range(start, start + count):
            indices = order[step * batch : (step + 1) * batch]
            images = tf.gather(self.images, indices)
            labels = tf.gather(self.labels, indices)
            if self.augment is not None:
                with tf.name_scope("augment"):
                    # Seeded by (run seed, iteration): a resumed run repeats its batches exactly.
                    images = augment_batch(
                        images, augment_seed(self.seed, optimizer.iterations), self.augment, self.style
                    )
            if self.replay is not None:
                images, labels = self._with_replay(images, labels, replay_order, step)
            with tf.GradientTape() as tape:
                with tf.name_scope("dnn"):
                    logits = model(images, training=True)
                with tf.name_scope("loss"):
                    loss = self._loss(labels, tf.cast(logits, tf.float32))
            with tf.name_scope("train"):
                gradients = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            with tf.name_scope("eval"):
                predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
                correct = tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float32))
            loss_sum += loss
            correct_sum += correct
        steps = tf.cast(count, tf.float32)
        return loss_sum / steps, correct_sum / steps

    def _with_replay(self, images, labels, replay_order, step):
        tf = self._tf
        indices = replay_order[step * self.replay_batch : (step + 1) * self.replay_batch]
        replay_images, replay_labels = (tf.gather(tensor, indices) for tensor in self.replay)
        return tf.concat([images, replay_images], axis=0), tf.concat([labels, replay_labels], axis=0)

    def _loss(self, labels, logits):
        tf = self._tf
        if not self.label_smoothing:  # the tutorial's loss, op for op
            return tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            )
        classes = logits.shape[-1]
        targets = tf.one_hot(labels, classes) * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=targets, logits=logits))

    def __call__(
        self, order: np.ndarray, start: int, count: int, replay_order: np.ndarray | None = None
    ) -> tuple[float, float]:
        loss, batch_accuracy = self.run(*self._arguments(order, start, count, replay_order))
        return float(loss), float(batch_accuracy)

    def graph(self, order: np.ndarray):
        return self.run.get_concrete_function(*self._arguments(order, 0, 1, None)).graph

    def _arguments(self, order, start, count, replay_order) -> tuple:
        tf = self._tf
        replay_order = np.zeros(0, np.int32) if replay_order is None else replay_order
        return (
            tf.constant(order),
            tf.constant(start, tf.int32),
            tf.constant(count, tf.int32),
            tf.constant(replay_order, tf.int32),
        )


def new_model_and_optimizer(config: TrainConfig, total_iterations: int):
    """(network, Adam) as a run of `config` starts them: the network built from config.arch, seed
    and dropout; Adam with the run's schedule over `total_iterations`, its slots already built (so
    a checkpoint can be restored into it before the first step)."""
    import keras

    from digitnet.training.networks import build_model
    from digitnet.training.schedules import learning_rate

    model = build_model(config.arch, dropout=config.dropout, seed=config.seed)
    rate = learning_rate(config.schedule, config.learning_rate, total_iterations)
    optimizer = keras.optimizers.Adam(
        learning_rate=rate, beta_1=config.adam_beta_1, beta_2=config.adam_beta_2, epsilon=config.adam_epsilon
    )
    optimizer.build(model.trainable_variables)
    return model, optimizer


def _score(logits_fn, split_images, split_labels, batch_size) -> tuple[float, float]:
    logits = predict_logits(logits_fn, split_images, batch_size)
    return cross_entropy(logits, split_labels), accuracy(logits.argmax(axis=1), split_labels)


def _save_model(model, run_dir: Path) -> Path:
    """model.keras, then its LiteRT file (model.tflite): the run then reads without TensorFlow."""
    from digitnet.training.inference import write_litert_beside

    path = atomic_save_keras(model, Path(run_dir) / layout.MODEL_FILE)
    write_litert_beside(model, path)
    return path


def train(
    config: TrainConfig,
    run_dir: Path,
    data: Mnist,
    *,
    on_progress: ProgressFn | None = None,
    on_epoch: EpochFn | None = None,
    on_note: NoteFn | None = None,
) -> TrainResult:
    """Start a new run in `run_dir` and train it to the end."""
    config.validate()
    require_tensorflow_backend()
    training = training_set(config, data)
    steps_per_epoch = config.steps_per_epoch(training.epoch_size)
    epochs = config.resolved_epochs(training.epoch_size)
    runs.create_run(
        run_dir,
        config,
        {
            "epochs": epochs,
            "steps_per_epoch": steps_per_epoch,
            "total_iterations": epochs * steps_per_epoch,
            "train_size": training.epoch_size,  # an epoch's images (of each draw's, one draw's)
            "training_fonts": list(training.fonts),  # the font files font digits came from, if any
        },
    )
    with locks.run_lock(run_dir):  # a second trainer on this folder is refused (RunLockError)
        return _train_loop(config, Path(run_dir), training, None, on_progress, on_epoch, on_note)


def resume(
    run_dir: Path,
    data: Mnist,
    *,
    on_progress: ProgressFn | None = None,
    on_epoch: EpochFn | None = None,
    on_note: NoteFn | None = None,
) -> TrainResult:
    """Continue a run from its newest complete checkpoint, with the run's own saved config."""
    config = runs.read_run_config(run_dir)
    require_tensorflow_backend()
    with locks.run_lock(run_dir):  # before reading checkpoints another trainer may still be writing
        checkpoint, notes = runs.latest_checkpoint(run_dir)
        for note in notes:
            if on_note:
                on_note(note)
        if checkpoint is None and notes:
            raise runs.RunError(f"{run_dir}: every checkpoint is damaged; start a new run")
        training = training_set(config, data)
        return _train_loop(config, Path(run_dir), training, checkpoint, on_progress, on_epoch, on_note)


def require_tensorflow_backend() -> None:
    """The compiled loop below is TensorFlow's; the networks themselves are backend-neutral Keras."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ConfigError(
            f"training runs on Keras's TensorFlow backend, but KERAS_BACKEND is "
            f"{keras.backend.backend()!r}; unset it or set KERAS_BACKEND=tensorflow"
        )


def _train_loop(config, run_dir, training, checkpoint, on_progress, on_epoch, on_note) -> TrainResult:
    """Train from `checkpoint` (None: from the start) to the last epoch, checkpointing each epoch."""
    import tensorflow as tf

    data = training.data
    steps_per_epoch = config.steps_per_epoch(training.epoch_size)
    epochs = config.resolved_epochs(training.epoch_size)
    model, optimizer = new_model_and_optimizer(config, epochs * steps_per_epoch)
    history = _restore(model, optimizer, checkpoint, epochs * steps_per_epoch, on_note)
    runs.clean_stale_temporaries(run_dir)
    steps = CompiledSteps(
        model,
        optimizer,
        data.train,
        config.batch_size,
        augment=config.affine_ranges(),
        seed=config.seed,
        label_smoothing=config.label_smoothing,
        style=config.style_ranges(),
    )
    logits_fn = make_logits_fn(model)
    writer = tf.summary.create_file_writer(str(run_dir / runs.TENSORBOARD_DIR))
    write_graph = _GraphWriter(writer, steps)
    elapsed = history[-1]["elapsed_seconds"] if history else 0.0
    tally = EpochTally.resumed(checkpoint, len(history))
    epoch_start = time.perf_counter() - tally.seconds
    try:
        for epoch in range(len(history), epochs):
            tally = tally if tally.epoch == epoch else EpochTally(epoch)
            epoch_start = time.perf_counter() - tally.seconds  # the time before a resume counts too
            train_epoch(steps, config, epoch, epochs, training, on_progress, write_graph, tally)
            row = _epoch_metrics(logits_fn, config, data, epoch, steps_per_epoch, tally)
            elapsed += time.perf_counter() - epoch_start
            row["elapsed_seconds"] = elapsed
            history.append(row)
            runs.save_checkpoint(
                run_dir,
                runs.Checkpoint(row["iteration"], epoch + 1, capture_state(model, optimizer), history),
            )
            runs.write_metrics(run_dir, history)
            _write_scalars(writer, row)
            if on_epoch:
                on_epoch(row)
    except KeyboardInterrupt:
        tally.seconds = time.perf_counter() - epoch_start
        raise _save_interrupted(run_dir, model, optimizer, history, tally) from None
    finally:
        writer.close()
    return _finish(model, optimizer, logits_fn, config, run_dir, data, epochs, history)


def _save_interrupted(run_dir, model, optimizer, history, tally: EpochTally) -> TrainingInterrupted:
    """Ctrl-C: checkpoint where the run stands, the epoch's running sums with it."""
    iteration = int(optimizer.iterations.numpy())
    progress = dataclasses.asdict(tally)
    state = capture_state(model, optimizer)
    runs.save_checkpoint(run_dir, runs.Checkpoint(iteration, len(history), state, history, None, progress))
    return TrainingInterrupted(run_dir, iteration)


def train_epoch(
    steps: CompiledSteps,
    config: TrainConfig,
    epoch: int,
    epochs: int,
    training: TrainingSet,
    on_progress: ProgressFn | None = None,
    on_chunk: Callable[[np.ndarray], None] | None = None,
    tally: EpochTally | None = None,
) -> list[float]:
    """The rest of one epoch (0-based `epoch`): its steps not yet taken, `config.steps_per_call` to a
    compiled call, over the epoch's images of `training` in the epoch's own shuffled order.
    Returns each call's mean batch loss (this process's calls), each also added to `tally` as soon
    as it is known.

    A resumed run re-enters its epoch part-way: where it stands is the optimizer's step count.
    on_chunk(order) is called after each call, before its progress report.
    """
    steps_per_epoch = config.steps_per_epoch(training.epoch_size)
    order = training.epoch_order(config.seed, epoch)
    losses = []
    step = int(steps.optimizer.iterations.numpy()) - epoch * steps_per_epoch
    while step < steps_per_epoch:
        count = min(config.steps_per_call, steps_per_epoch - step)
        chunk_start = time.perf_counter()
        loss, batch_accuracy = steps(order, step, count)
        step += count
        if not math.isfinite(loss):  # diverged: stop before this state reaches any checkpoint
            raise NonFiniteLossError(epoch * steps_per_epoch + step, loss, config.learning_rate)
        losses.append(loss)
        if tally is not None:
            tally.add(loss)
        if on_chunk:
            on_chunk(order)
        if on_progress:
            rate = count * config.batch_size / max(time.perf_counter() - chunk_start, 1e-9)
            on_progress(
                Progress(
                    epoch + 1,
                    epochs,
                    epoch * steps_per_epoch + step,
                    epochs * steps_per_epoch,
                    loss,
                    batch_accuracy,
                    rate,
                )
            )
    return losses


def _restore(model, optimizer, checkpoint, total: int, on_note: NoteFn | None) -> list[dict]:
    """The checkpoint's state put into the fresh model and optimizer; its history (none: [])."""
    if checkpoint is None:
        return []
    restore_state(model, optimizer, checkpoint.arrays)
    if on_note:
        on_note(f"resuming from {checkpoint.path} (iteration {checkpoint.iteration} of {total})")
    return list(checkpoint.history)


class _GraphWriter:
    """Writes the training step's graph to TensorBoard once, after the first compiled call."""

    def __init__(self, writer, steps: CompiledSteps):
        self.writer, self.steps, self.written = writer, steps, False

    def __call__(self, order: np.ndarray) -> None:
        import tensorflow as tf

        if self.written:
            return
        with self.writer.as_default():
            tf.summary.graph(self.steps.graph(order))
        self.written = True


def _epoch_metrics(logits_fn, config, data, epoch: int, steps_per_epoch: int, tally: EpochTally) -> dict:
    """The metrics row of a finished epoch, but its elapsed_seconds (the caller's clock adds it last).

    train_loss and train_accuracy are of the first config.train_eval_size training images only.
    """
    size = config.train_eval_size
    train_loss, train_accuracy = _score(
        logits_fn, data.train.images[:size], data.train.labels[:size], config.eval_batch_size
    )
    val_loss, val_accuracy = _score(
        logits_fn, data.validation.images, data.validation.labels, config.eval_batch_size
    )
    return {
        "epoch": epoch + 1,
        "iteration": (epoch + 1) * steps_per_epoch,
        "batch_loss": tally.mean_loss(),  # over the whole epoch, a resumed one's part before included
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "validation_loss": val_loss,
        "validation_accuracy": val_accuracy,
    }


def _finish(model, optimizer, logits_fn, config, run_dir, data, epochs: int, history) -> TrainResult:
    """Save the final model and measure it on the test split and the whole training split (every
    draw of the synthetic digits in it)."""
    _save_model(model, run_dir)
    _, test_accuracy = _score(logits_fn, data.test.images, data.test.labels, config.eval_batch_size)
    _, full_train_accuracy = _score(logits_fn, data.train.images, data.train.labels, config.eval_batch_size)
    last = history[-1]
    return TrainResult(
        run_dir,
        epochs,
        int(optimizer.iterations.numpy()),
        last["validation_accuracy"],
        full_train_accuracy,
        test_accuracy,
        last["elapsed_seconds"],
        history,
    )


def _write_scalars(writer, row: dict) -> None:
    import tensorflow as tf

    with writer.as_default():
        for name in ("batch_loss", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy"):
            tf.summary.scalar(name, row[name], step=int(row["iteration"]))
        writer.flush()
