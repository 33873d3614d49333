import pytest

from digitnet.training.networks import ARCHITECTURES, UnknownArchError, build_model, summarize

SEED_SHAPES = [
    ("convolution", (None, 14, 14, 32), 800),
    ("max_pool", (None, 7, 7, 32), 0),
    ("convolution_2", (None, 4, 4, 64), 51_200),
    ("max_pool_2", (None, 2, 2, 64), 0),
    ("flatten", (None, 256), 0),
    ("predict", (None, 1024), 263_168),
    ("dropout", (None, 1024), 0),
    ("logits", (None, 10), 10_250),
]
EXPERT_SHAPES = [
    ("convolution", (None, 28, 28, 32), 832),
    ("max_pool", (None, 14, 14, 32), 0),
    ("convolution_2", (None, 14, 14, 64), 51_264),
    ("max_pool_2", (None, 7, 7, 64), 0),
    ("flatten", (None, 3136), 0),
    ("predict", (None, 1024), 3_212_288),
    ("dropout", (None, 1024), 0),
    ("logits", (None, 10), 10_250),
]


@pytest.mark.parametrize(
    "arch, expected, total", [("seed", SEED_SHAPES, 325_418), ("expert", EXPERT_SHAPES, 3_274_634)]
)
def test_layer_names_shapes_and_parameters(arch, expected, total):
    model = build_model(arch, seed=0)
    layers = summarize(model)
    assert [(layer.name, layer.output_shape, layer.parameters) for layer in layers] == expected
    assert model.count_params() == total


def test_seed_network_is_the_tutorials():
    model = build_model("seed", seed=0)
    convolutions = [model.get_layer("convolution"), model.get_layer("convolution_2")]
    for conv in convolutions:
        assert conv.strides == (2, 2) and conv.padding == "same"
        assert not conv.use_bias and conv.activation.__name__ == "linear"
        weights = conv.kernel.numpy()
        assert abs(weights).max() <= 0.2 + 1e-6  # truncated at two standard deviations
        assert 0.07 < weights.std() < 0.1  # truncation shrinks stddev 0.1 to about 0.088
    assert model.get_layer("predict").activation.__name__ == "relu"
    assert model.get_layer("dropout").rate == 0.5
    assert model.get_layer("logits").activation.__name__ == "linear"


def test_same_seed_same_weights_and_different_seed_differs():
    import numpy as np

    first, again, other = (build_model("seed", seed=s).get_weights() for s in (1, 1, 2))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_unknown_arch_names_the_choices():
    with pytest.raises(UnknownArchError) as raised:
        build_model("resnet9000")
    assert "seed" in str(raised.value) and "expert" in str(raised.value)


def test_every_registered_architecture_maps_images_to_ten_logits():
    import numpy as np

    for name in ARCHITECTURES:
        logits = build_model(name, seed=0)(np.zeros((2, 28, 28, 1), np.float32), training=False)
        assert tuple(logits.shape) == (2, 10)


def test_lean_network_is_conv_bn_relu_and_small():
    model = build_model("lean", seed=0)
    shapes = {layer.name: layer.output_shape for layer in summarize(model)}
    assert shapes["convolution_relu"] == (None, 28, 28, 24)  # stride 1, no pooling yet
    assert shapes["convolution_3_relu"] == (None, 7, 7, 96)
    assert shapes["logits"] == (None, 10)
    assert model.count_params() == 100_162
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("BatchNormalization") == 3 and kinds.count("Conv2D") == 3


def test_build_model_keeps_each_architectures_own_dropout_unless_told():
    assert build_model("lean", seed=0).get_layer("dropout").rate == 0.25
    assert build_model("fast", seed=0).get_layer("dropout").rate == 0.0
    assert build_model("lean", dropout=0.5, seed=0).get_layer("dropout").rate == 0.5
