"""The shape of an MNIST image and of a prediction, defined once. Imports no Keras.

Every network takes INPUT_SHAPE images (height, width, one grey channel) and answers NUM_CLASSES
logits; preprocessing, the engine, the service and the negative families all draw at IMAGE_SIDE.
"""

IMAGE_SIDE = 28  # pixels, height and width of an MNIST image
INPUT_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 1)  # one image as a network takes it (batch axis not included)
NUM_CLASSES = 10  # the digits 0-9
