"""The book's diagrams: drawn from the objects they show, and legible (no label on top of another)."""

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from vae import diagrams, models  # noqa: E402


@pytest.fixture(scope="module")
def small_conv():
    return models.ConvVAE(latent_dim=8)


def text_boxes(fig):
    """The window extents (pixels) of every non-empty text in the figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(matplotlib.text.Text)
            if t.get_text().strip() and t.get_visible()]


def overlapping(fig):
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(text_boxes(fig), 2)
            if box_a.overlaps(box_b)]


@pytest.mark.parametrize("draw", [diagrams.graphical_model, diagrams.reparameterization_graph,
                                  diagrams.bits_back_stack, diagrams.rate_distortion_plane])
def test_no_label_of_an_idea_diagram_sits_on_another(draw):
    fig = draw()
    try:
        assert overlapping(fig) == []
    finally:
        plt.close(fig)


def test_the_network_diagram_shows_every_layer_with_its_shape_read_from_the_model(small_conv):
    fig = diagrams.network_shapes(small_conv)
    try:
        texts = "\n".join(text for text, _ in text_boxes(fig))
        for network in (small_conv.encoder, small_conv.decoder):
            for layer in network.layers:
                assert f"{layer.name} · {type(layer).__name__}" in texts
        assert "8" in texts.split("mean · Dense\n")[1].splitlines()[0]  # the code size, not a typed 32
        assert overlapping(fig) == []
    finally:
        plt.close(fig)


def test_an_overlap_is_detected():
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "one label")
    ax.text(0.5, 0.5, "another label")
    try:
        assert len(overlapping(fig)) == 1
    finally:
        plt.close(fig)
