"""Training on a tiny synthetic set: it learns, it is reproducible, and it survives interruption."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import synthetic_mnist
from digitnet import layout
from digitnet.jobs.keras_models import load_model
from digitnet.training import loop, runs
from digitnet.training.config import TrainConfig
from digitnet.training.training_set import epoch_order
from digitnet.util.locks import LOCK_FILE

TINY = dict(batch_size=50, learning_rate=1e-3, train_eval_size=200, steps_per_call=4)


def _weights(run_dir):
    return load_model(run_dir).get_weights()


def test_a_few_steps_reduce_the_loss(tmp_path, tiny_mnist):
    result = loop.train(TrainConfig(epochs=3, seed=1, **TINY), tmp_path / "run", tiny_mnist)
    losses = [row["validation_loss"] for row in result.history]
    assert losses[-1] < losses[0] < 2.4  # 2.30 is chance for ten classes
    assert result.iterations == 3 * 12
    assert result.validation_accuracy > 0.5
    assert (tmp_path / "run" / layout.MODEL_FILE).is_file()
    assert len(runs.read_metrics(tmp_path / "run")) == 3


def test_run_directory_holds_config_metrics_tensorboard_and_checkpoints(tmp_path, tiny_mnist):
    run_dir = tmp_path / "run"
    loop.train(TrainConfig(epochs=2, seed=1, **TINY), run_dir, tiny_mnist)
    assert runs.read_run_config(run_dir).epochs == 2
    checkpoint, _ = runs.latest_checkpoint(run_dir)
    assert checkpoint.iteration == 24 and checkpoint.epoch == 2
    assert any(name.startswith("optimizer:") for name in checkpoint.arrays)
    model, _ = loop.new_model_and_optimizer(TrainConfig(**TINY), total_iterations=100)
    rng_index = [i for i, v in enumerate(model.variables) if "seed_generator_state" in v.path]
    assert rng_index and f"model:{rng_index[0]:03d}" in checkpoint.arrays  # dropout's RNG state
    event_files = list((run_dir / runs.TENSORBOARD_DIR).glob("events.out.tfevents.*"))
    assert event_files and event_files[0].stat().st_size > 1000  # scalars and the graph


def test_graph_has_the_tutorials_name_scopes(tiny_mnist):
    model, optimizer = loop.new_model_and_optimizer(TrainConfig(**TINY), total_iterations=100)
    steps = loop.CompiledSteps(model, optimizer, tiny_mnist.train, 50)
    graph = steps.graph(np.arange(len(tiny_mnist.train), dtype=np.int32))
    body_ops = [op.name for function in graph.as_graph_def().library.function for op in function.node_def]
    # The steps run inside an in-graph loop, so the scopes sit under "while/".
    for scope in ("dnn", "loss", "train", "eval"):
        assert any(name.startswith(f"while/{scope}/") for name in body_ops), scope


def test_same_seed_same_weights_different_seed_different(tmp_path, tiny_mnist):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        loop.train(TrainConfig(epochs=2, seed=seed, **TINY), tmp_path / name, tiny_mnist)
    a, b, c = (_weights(tmp_path / name) for name in "abc")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_epoch_order_is_a_pure_function_of_seed_and_epoch():
    first = epoch_order(3, 4, 100)
    assert np.array_equal(first, epoch_order(3, 4, 100))
    assert sorted(first) == list(range(100))
    assert not np.array_equal(first, epoch_order(3, 5, 100))


def test_ctrl_c_saves_a_checkpoint_and_resume_matches_an_uninterrupted_run(tmp_path, tiny_mnist):
    config = TrainConfig(epochs=3, seed=2, **TINY)
    loop.train(config, tmp_path / "whole", tiny_mnist)

    calls = []

    def interrupt_mid_epoch_two(progress):
        calls.append(progress.iteration)
        if progress.iteration == 16:  # epoch 2 of 3, a third of the way in
            raise KeyboardInterrupt

    with pytest.raises(loop.TrainingInterrupted) as interrupted:
        loop.train(config, tmp_path / "cut", tiny_mnist, on_progress=interrupt_mid_epoch_two)
    assert interrupted.value.iteration == 16
    assert "--resume" in str(interrupted.value)
    saved = runs.latest_checkpoint(tmp_path / "cut")[0].epoch_progress
    assert saved["epoch"] == 1 and saved["chunks"] == 1 and saved["seconds"] > 0
    (tmp_path / "cut" / ".model-abc123.keras").write_bytes(b"")  # a kill during the final save
    (tmp_path / "cut" / ".metrics.csv.xyz.tmp").write_bytes(b"half")
    result = loop.resume(tmp_path / "cut", tiny_mnist)
    assert result.iterations == 36
    assert len(result.history) == 3
    whole, cut = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert all(np.array_equal(x, y) for x, y in zip(whole, cut))
    # No temporaries left; the run's lock file stays (flock locks are kept, never deleted: see locks.py).
    assert sorted(p.name for p in (tmp_path / "cut").glob(".*")) == [LOCK_FILE]
    # The interrupted epoch's row: its loss over all of its steps, its time both parts.
    whole_rows, cut_rows = runs.read_metrics(tmp_path / "whole"), runs.read_metrics(tmp_path / "cut")
    for whole_row, cut_row in zip(whole_rows, cut_rows):
        assert cut_row["batch_loss"] == pytest.approx(whole_row["batch_loss"], abs=1e-6)
    assert cut_rows[1]["elapsed_seconds"] - cut_rows[0]["elapsed_seconds"] > saved["seconds"]


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from conftest import synthetic_mnist
    from digitnet.training import loop
    from digitnet.training.config import TrainConfig
    config = TrainConfig(epochs=4, seed=9, **{tiny!r})
    # Slow each epoch's end so the kill lands after the first checkpoint, mid-run.
    loop.train(config, sys.argv[1], synthetic_mnist(), on_epoch=lambda row: time.sleep(1.0))
""")


def test_sigkill_after_first_checkpoint_then_resume_matches_uninterrupted(tmp_path):
    data = synthetic_mnist()
    script = KILL_SCRIPT.format(tests=os.path.dirname(__file__), tiny=TINY)
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while runs.latest_checkpoint(killed)[0] is None:
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / layout.MODEL_FILE).exists()  # it really died before finishing

    resumed = loop.resume(killed, data)
    whole = loop.train(TrainConfig(epochs=4, seed=9, **TINY), tmp_path / "whole", data)
    assert resumed.iterations == whole.iterations == 48
    assert all(np.array_equal(x, y) for x, y in zip(_weights(killed), _weights(tmp_path / "whole")))


def test_resume_of_a_finished_run_changes_nothing(tmp_path, tiny_mnist):
    config = TrainConfig(epochs=1, seed=2, **TINY)
    first = loop.train(config, tmp_path / "run", tiny_mnist)
    again = loop.resume(tmp_path / "run", tiny_mnist)
    assert again.iterations == first.iterations
    assert again.test_accuracy == first.test_accuracy


def test_resume_refuses_a_folder_that_is_not_a_run(tmp_path, tiny_mnist):
    with pytest.raises(runs.RunError, match="not a digitnet run"):
        loop.resume(tmp_path, tiny_mnist)


AUGMENTED = dict(TINY, augment=True, rotate_degrees=10.0, shift_fraction=0.1, zoom_fraction=0.1)


def test_augmented_training_is_seeded_resumable_and_differs_from_plain(tmp_path, tiny_mnist):
    config = TrainConfig(epochs=2, seed=4, **AUGMENTED)
    loop.train(config, tmp_path / "a", tiny_mnist)
    loop.train(config, tmp_path / "b", tiny_mnist)
    loop.train(TrainConfig(epochs=2, seed=4, **TINY), tmp_path / "plain", tiny_mnist)

    def stop_at_8(progress):
        if progress.iteration == 8:
            raise KeyboardInterrupt

    with pytest.raises(loop.TrainingInterrupted):
        loop.train(config, tmp_path / "cut", tiny_mnist, on_progress=stop_at_8)
    loop.resume(tmp_path / "cut", tiny_mnist)
    a, b, cut, plain = (_weights(tmp_path / name) for name in ("a", "b", "cut", "plain"))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))  # same seed, same augmented batches
    assert all(np.array_equal(x, y) for x, y in zip(a, cut))  # resumed mid-run, same batches
    assert not all(np.array_equal(x, y) for x, y in zip(a, plain))


def test_graph_applies_augmentation_only_when_asked(tiny_mnist):
    def body_ops(config):
        model, optimizer = loop.new_model_and_optimizer(config, total_iterations=100)
        steps = loop.CompiledSteps(
            model, optimizer, tiny_mnist.train, 50, augment=config.affine_ranges(), seed=config.seed
        )
        graph = steps.graph(np.arange(len(tiny_mnist.train), dtype=np.int32))
        return [node.op for function in graph.as_graph_def().library.function for node in function.node_def]

    assert "ImageProjectiveTransformV3" in body_ops(TrainConfig(**AUGMENTED))
    assert "ImageProjectiveTransformV3" not in body_ops(TrainConfig(**TINY))


def test_label_smoothed_loss_matches_keras(tiny_mnist):
    import keras

    model, optimizer = loop.new_model_and_optimizer(TrainConfig(**TINY), total_iterations=10)
    steps = loop.CompiledSteps(model, optimizer, tiny_mnist.train, 50, label_smoothing=0.1)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 10)).astype(np.float32) * 3
    labels = rng.integers(0, 10, 8).astype(np.int32)
    expected = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(
        np.eye(10, dtype=np.float32)[labels], logits
    )
    assert float(steps._loss(labels, logits)) == pytest.approx(float(expected), rel=1e-5)
    # A confident, correct prediction costs more under smoothing: it pulls logits back together.
    plain = loop.CompiledSteps(model, optimizer, tiny_mnist.train, 50)
    confident = np.eye(10, dtype=np.float32)[labels] * 12
    assert float(plain._loss(labels, confident)) < 0.001 < float(steps._loss(labels, confident))


def test_a_step_with_replay_trains_on_its_batch_followed_by_the_replayed_images(tiny_mnist):
    """Fine-tuning's batches: the split's batch, then replay_batch images of the replay split."""
    from digitnet.training.metrics import cross_entropy

    model, optimizer = loop.new_model_and_optimizer(TrainConfig(**TINY, dropout=0.0), total_iterations=10)
    steps = loop.CompiledSteps(model, optimizer, tiny_mnist.train, 4, replay=tiny_mnist.test, replay_batch=3)
    order, replay_order = np.array([5, 1, 7, 2], np.int32), np.array([9, 0, 4], np.int32)
    images = np.concatenate([tiny_mnist.train.images[order], tiny_mnist.test.images[replay_order]])
    labels = np.concatenate([tiny_mnist.train.labels[order], tiny_mnist.test.labels[replay_order]])
    expected = cross_entropy(np.asarray(model(images, training=False)), labels)  # before the step
    loss, _ = steps(order, 0, 1, replay_order)
    assert loss == pytest.approx(expected, rel=1e-4)


def test_strong_recipe_trains_the_lean_network_and_resumes_exactly(tmp_path, tiny_mnist):
    """One-cycle, label smoothing, augmentation and batch-norm statistics all survive a resume."""
    from digitnet.training.config import recipe_config

    config = recipe_config("strong", epochs=2, batch_size=50, train_eval_size=200, steps_per_call=4, seed=2)

    def stop_at_8(progress):
        if progress.iteration == 8:
            raise KeyboardInterrupt

    whole = loop.train(config, tmp_path / "whole", tiny_mnist)
    with pytest.raises(loop.TrainingInterrupted):
        loop.train(config, tmp_path / "cut", tiny_mnist, on_progress=stop_at_8)
    loop.resume(tmp_path / "cut", tiny_mnist)
    model = load_model(tmp_path / "whole")
    assert model.name == "lean"
    moving_variance = model.get_layer("convolution_bn").moving_variance.numpy()
    assert not np.allclose(moving_variance, 1.0)  # the statistics were learned
    assert all(np.array_equal(x, y) for x, y in zip(_weights(tmp_path / "whole"), _weights(tmp_path / "cut")))
    assert whole.history[-1]["validation_loss"] < whole.history[0]["validation_loss"]


def test_compiled_loop_matches_plain_keras_training(tiny_mnist):
    """digitnet's fast path (in-graph loop, in-graph batches) against model.train_on_batch."""
    import keras

    from digitnet.training.networks import build_model

    config = TrainConfig(**TINY)
    order = epoch_order(0, 0, len(tiny_mnist.train))
    model, optimizer = loop.new_model_and_optimizer(config, total_iterations=100)
    steps = loop.CompiledSteps(model, optimizer, tiny_mnist.train, config.batch_size)
    steps(order, 0, 12)

    plain = build_model(config.arch, dropout=config.dropout, seed=config.seed)
    plain.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, epsilon=config.adam_epsilon),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    for step in range(12):
        batch = order[step * config.batch_size : (step + 1) * config.batch_size]
        plain.train_on_batch(tiny_mnist.train.images[batch], tiny_mnist.train.labels[batch])

    for fast, reference in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(fast, reference, atol=1e-5)
    test_images = tiny_mnist.test.images
    assert np.array_equal(
        model.predict(test_images, verbose=0).argmax(1), plain.predict(test_images, verbose=0).argmax(1)
    )
