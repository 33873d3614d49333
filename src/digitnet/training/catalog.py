"""The networks by name, described without building them: what `digitnet models` prints.

Kept apart from digitnet.training.networks (which imports Keras) so that listing the networks
needs no TensorFlow; a test checks each count against the built network.
"""

from __future__ import annotations

DESCRIPTIONS = {
    "seed": "the tutorial's network: 2 strided 5x5 convs, no activation, dense 1024, dropout (about 98.7%)",
    "expert": "TensorFlow's Deep MNIST for experts: stride-1 ReLU convs, dense 1024, dropout (about 99.2%)",
    "lean": "3 stride-1 conv-BN-ReLU layers (24-48-96), 2 pools, dropout; "
    "for the strong recipe with augmentation",
    "wide": "lean with 32-64-128 channels (about 1.75x its arithmetic); "
    "for the read recipe's heavier augmentation",
    "wider": "lean with 48-96-192 channels (about 2.2x wide's arithmetic); "
    "tried for the read recipe with more writer digits (not taken: see the README)",
    "fast": "small ReLU CNN (conv 24, conv 32, dense 256) for the fast recipe: 99.2% in about two epochs",
}

PARAMETERS = {
    "seed": 325_418,
    "expert": 3_274_634,
    "lean": 100_162,
    "wide": 156_586,
    "wider": 303_994,
    "fast": 411_802,
}
