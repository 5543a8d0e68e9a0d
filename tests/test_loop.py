"""vae.training.fit_epochs: the one epoch loop behind every trainer of the package."""

import keras
import numpy as np
import pytest

from vae import conditional, data, training
from vae.models import MLPVAE


@pytest.fixture(scope="module")
def digits():
    images, labels = data.load_mnist("test")
    return images[:300], labels[:300]


def weights_equal(first, second):
    return all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))


def test_the_loop_trains_the_conditional_vae_exactly_as_chapter_7_does(digits):
    images, labels = digits

    def fresh():
        keras.utils.set_random_seed(0)
        model = conditional.ConditionalVAE(latent_dim=2, hidden=(32,), seed=0)
        model.compile(optimizer=keras.optimizers.Adam(2e-3))
        return model

    validation = conditional.labelled_batches(images[:100], labels[:100], 50, shuffle=False, binarize=False)
    by_hand, records = fresh(), []
    for epoch in range(2):  # chapter 7's loop
        batches = conditional.labelled_batches(images, labels, 64, epoch=epoch, seed=0)
        history = by_hand.fit(batches, validation_data=validation, epochs=epoch + 1, initial_epoch=epoch,
                              verbose=0, shuffle=False)
        records.append({key: values[-1] for key, values in history.history.items()})
    looped = fresh()
    history = training.fit_epochs(
        looped, lambda epoch: conditional.labelled_batches(images, labels, 64, epoch=epoch, seed=0), 2,
        validation=validation)
    assert weights_equal(by_hand, looped)
    assert [{k: v for k, v in r.items() if k != "epoch"} for r in history] == records
    assert [r["epoch"] for r in history] == [1, 2]


def test_callbacks_see_every_epoch_and_may_extend_its_record(digits):
    images, _ = digits
    model = MLPVAE(latent_dim=2, hidden=(16,), seed=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    begun = []
    history = training.fit_epochs(model, lambda epoch: data.training_batches(images, 100, epoch=epoch), 3,
                                  initial_epoch=1, schedule=training.linear_kl_warmup(2.0),
                                  on_epoch_begin=begun.append,
                                  on_epoch_end=lambda record: record.update(seen=True))
    assert begun == [1, 2]
    assert [r["epoch"] for r in history] == [2, 3] and all(r["seen"] for r in history)
    assert history[0]["beta"] == pytest.approx(0.5 + 0.5 * 2 / 3) and history[1]["beta"] == 1.0
    assert {"loss", "reconstruction", "kl"} <= set(history[0])


def test_a_schedule_needs_batches_of_known_length(digits):
    images, _ = digits
    model = MLPVAE(latent_dim=2, hidden=(16,), seed=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    unknown = data.training_batches(images, 100, epoch=0).filter(lambda x: True)
    with pytest.raises(ValueError, match="length"):
        training.fit_epochs(model, lambda epoch: unknown, 1, schedule=training.constant_beta(1.0))


def test_fit_trains_a_subclass_on_its_own_compute_losses(binary_images):
    """compute_losses is the override point: book/errata trains the article's squared-error loss through it."""
    import tensorflow as tf

    class Constant(MLPVAE):
        def compute_losses(self, x, seed=None):
            zero = 0.0 * tf.add_n([tf.reduce_sum(v) for v in self.trainable_variables])
            return {"loss": zero + 7.0, "reconstruction": zero + 7.0, "kl": zero}

    model = Constant(latent_dim=2, hidden=(8,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(data.evaluation_batches(binary_images, 4), verbose=0).history
    assert history["loss"] == [7.0]
