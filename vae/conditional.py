"""A conditional VAE: encoder and decoder both see the digit's label.

Sohn, Lee and Yan (2015) condition every distribution of a VAE on side
information ``y``: the encoder is q(z|x, y), the decoder p(x|z, y) and here
the prior stays p(z) = N(0, I). The code ``z`` is then free to hold what the
label does not say (slant, thickness, style), and ``decode(z, y)`` with a
chosen ``y`` draws a chosen digit.

The contract mirrors :mod:`vae.models`, with a label beside every image or code:

- ``encode(x, y) -> (mean, log_var)``, each ``(batch, latent_dim)``;
- ``reparameterize(mean, log_var, seed=None) -> z``;
- ``decode(z, y) -> logits`` shaped ``(batch, 28, 28, 1)`` (Bernoulli);
- ``sample(labels, seed=None) -> images`` in [0, 1], one per label;
- ``train_step``/``test_step`` so that ``model.fit`` on ``(x, y)`` batches
  reports ``loss``, ``reconstruction`` and ``kl`` in nats per image.

Labels are integer class numbers ``(batch,)`` in ``0 .. num_classes - 1`` or
one-hot rows ``(batch, num_classes)``; anything else is a ``ValueError``.

Chapter 7 finds the three pieces here; each lives beside its kind: the model
:class:`ConditionalVAE` in :mod:`vae.models` (it shares the latent machinery
of :class:`vae.models.VAE`), the label check :func:`one_hot_labels` in
:mod:`vae.checks`, the batches :func:`labelled_batches` in :mod:`vae.data`.
"""

from vae.checks import EXPECTED_LABELS, one_hot_labels  # noqa: F401  (the label check)
from vae.data import labelled_batches  # noqa: F401  (the labelled pipeline)
from vae.models import ConditionalVAE  # noqa: F401  (the model, beside VAE)
