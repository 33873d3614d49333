"""Adam with each variable's update as one fused TensorFlow kernel.

Keras's Adam writes the update as about ten small ops per variable; at the tutorial's batch of 50
the step is short enough that this op overhead shows. `ResourceApplyAdam` is the kernel behind
TF1's `tf.train.AdamOptimizer`, the optimizer the tutorial itself used, and computes the same
formula in the same order (m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
var -= lr_t m / (sqrt(v) + eps)), so the trajectory matches Keras's Adam to rounding.
TensorFlow backend only, as is the training loop that uses it.
"""

from __future__ import annotations

import keras


class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam (no amsgrad, no weight decay) with a one-kernel update per variable."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.amsgrad or self.weight_decay:
            raise ValueError("FusedAdam supports neither amsgrad nor weight decay")

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle,
            v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype), use_locking=False)
