"""Training with handwriting-style augmentation: seeded, and a resumed run ends bit for bit the same."""

import numpy as np
import pytest

from digitnet.training import loop
from digitnet.training.config import TrainConfig
from test_train import AUGMENTED, _weights

STYLED = dict(
    AUGMENTED,
    elastic_alpha=1.5,
    stroke_pixels=1.0,
    blur_sigma=1.0,
    low_res_probability=0.3,
    ink_fraction=0.3,
    occlusion_fraction=0.3,
)


def test_style_augmented_run_interrupted_and_resumed_matches_an_uninterrupted_one(tmp_path, tiny_mnist):
    config = TrainConfig(epochs=2, seed=3, **STYLED)
    loop.train(config, tmp_path / "whole", tiny_mnist)
    loop.train(TrainConfig(epochs=2, seed=3, **AUGMENTED), tmp_path / "affine", tiny_mnist)

    def interrupt_mid_epoch_two(progress):
        if progress.iteration == 16:  # epoch 2 of 2, a third of the way in
            raise KeyboardInterrupt

    with pytest.raises(loop.TrainingInterrupted) as interrupted:
        loop.train(config, tmp_path / "cut", tiny_mnist, on_progress=interrupt_mid_epoch_two)
    assert interrupted.value.iteration == 16
    result = loop.resume(tmp_path / "cut", tiny_mnist)
    assert result.iterations == 24
    whole, cut, affine = (_weights(tmp_path / name) for name in ("whole", "cut", "affine"))
    assert all(np.array_equal(x, y) for x, y in zip(whole, cut))
    assert not all(np.array_equal(x, y) for x, y in zip(whole, affine))  # the style changes were used


def test_graph_applies_style_changes_only_when_asked(tiny_mnist):
    def body_ops(config):
        model, optimizer = loop.new_model_and_optimizer(config, total_iterations=100)
        steps = loop.CompiledSteps(
            model,
            optimizer,
            tiny_mnist.train,
            50,
            augment=config.affine_ranges(),
            seed=config.seed,
            style=config.style_ranges(),
        )
        graph = steps.graph(np.arange(len(tiny_mnist.train), dtype=np.int32))
        return [node.op for function in graph.as_graph_def().library.function for node in function.node_def]

    styled, affine = body_ops(TrainConfig(**STYLED)), body_ops(TrainConfig(**AUGMENTED))
    # Stroke width blends with an einsum; smoothing, blur and low resolution are batched matrix products;
    # each change's seed is folded from the iteration's.
    for op in ("Einsum", "BatchMatMulV2", "StatelessRandomUniformFullIntV2"):
        assert op in styled and op not in affine, op
    assert "ImageProjectiveTransformV3" in styled and "ImageProjectiveTransformV3" in affine
