"""vae.plotting: grids and curves (the pictures themselves are looked at in the book)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vae import plotting  # noqa: E402


def test_tile_images_lays_out_a_grid_with_padding():
    images = np.zeros((5, 28, 28, 1), np.float32)
    images[3] = 1.0
    canvas = plotting.tile_images(images, columns=3, padding=1, padding_value=0.5)
    assert canvas.shape == (2 * 29 - 1, 3 * 29 - 1)
    assert canvas[29:57, 0:28].max() == 1.0  # image 3 starts the second row
    assert canvas[28, 0] == 0.5  # the padding line


def test_tile_images_refuses_raw_pixels():
    with pytest.raises(ValueError, match="uint8"):
        plotting.tile_images(np.zeros((2, 28, 28, 1), np.uint8))


def test_save_image_grid_writes_a_png(tmp_path):
    plotting.save_image_grid(np.zeros((4, 28, 28, 1), np.float32), tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"


def test_show_rows_draws_one_labelled_row_per_entry():
    images = np.zeros((4, 28, 28, 1), np.float32)
    figure = plotting.show_rows({"data": images, "reconstruction": images})
    assert [ax.get_ylabel() for ax in figure.axes] == ["data", "reconstruction"]
    plt.close(figure)


def test_show_rows_refuses_rows_of_different_lengths():
    with pytest.raises(ValueError, match="same number"):
        plotting.show_rows({"a": np.zeros((2, 28, 28, 1)), "b": np.zeros((3, 28, 28, 1))})


def test_plot_history_reads_manifest_records_and_keras_dicts():
    records = [{"epoch": 1, "loss": 3.0, "val_loss": 2.5}, {"epoch": 2, "loss": 2.0, "val_loss": 2.2}]
    ax = plotting.plot_history(records)
    assert [list(line.get_ydata()) for line in ax.lines] == [[3.0, 2.0], [2.5, 2.2]]
    ax = plotting.plot_history({"loss": [1.0, 0.5]}, keys=("loss",))
    assert ax.get_ylabel() == "nats per image"
    with pytest.raises(ValueError, match="no series"):
        plotting.plot_history({"loss": [1.0]}, keys=("kl",))
    plt.close("all")
