import numpy as np
import pytest
from PIL import Image

from hncf.data.posters import PosterIndex
from hncf.evaluation.figures import plot_poster_grid


@pytest.fixture
def posters(tmp_path):
    Image.fromarray(np.full((30, 20, 3), 200, np.uint8)).save(tmp_path / "1.jpg", format="JPEG")
    Image.fromarray(np.zeros((30, 20, 3), np.uint8)).save(tmp_path / "2.jpg", format="PNG")  # mislabelled, decodes
    (tmp_path / "3.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return PosterIndex(tmp_path, key="movieId")


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_grid_marks_missing_and_unreadable_posters(posters, tmp_path):
    fig = plot_poster_grid(posters, [1, 2, 3, 4], titles=["A", "B", "C", "D"], ncols=3)
    assert fig.poster_status == ["ok", "ok", "unreadable", "missing"]
    assert len(fig.axes) == 6  # 2 rows x 3 columns, the last two blank
    assert [ax.get_title() for ax in fig.axes[:4]] == ["A", "B", "C", "D"]
    assert _texts(fig) == ["unreadable\nfile", "no\nposter file"]
    assert "2 shown, 1 without a file, 1 unreadable" in fig._suptitle.get_text()
    # The decoded poster is drawn with its own pixels.
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (120, 80, 3) and abs(int(shown.mean()) - 200) <= 2
    fig.savefig(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_bad_arguments_are_clear(posters):
    with pytest.raises(ValueError, match="empty"):
        plot_poster_grid(posters, [])
    with pytest.raises(ValueError, match="2 entries for 1 item ids"):
        plot_poster_grid(posters, [1], titles=["a", "b"])
