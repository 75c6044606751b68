"""The HTML run report: every promised figure is embedded as a real PNG, and tables say the right thing."""
from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan import plots
from condgan.report import PLOTS, write_report


class _Page(HTMLParser):
    """Collects <img> attributes by id, all element ids, and table rows by their id."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: dict[str, dict[str, str]] = {}
        self.ids: set[str] = set()
        self.promised: list[str] = []
        self.rows: dict[str, list[str]] = {}
        self._row: str | None = None
        self._cell = False
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs[a.get("id", "")] = a
        if tag == "a" and "data-plot" in a:
            self.promised.append(a["data-plot"])
        if tag == "script":
            self.scripts += 1
        if tag == "tr" and "id" in a:
            self._row = a["id"]
            self.rows[self._row] = []
        if tag == "td" and self._row:
            self._cell = True

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        if tag == "td":
            self._cell = False

    def handle_data(self, data):
        if self._cell and self._row:
            self.rows[self._row].append(data)


def _parse(path: Path) -> tuple[str, _Page]:
    text = path.read_text()
    page = _Page()
    page.feed(text)
    return text, page


def _png(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,"), uri[:40]
    im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    im.load()
    assert im.format == "PNG"
    return im


def _grid(path: Path, value: int, rows: int = 3, cols: int = 4, cell: int = 8) -> None:
    """A grid laid out like training.loop's: `rows` x `cols` cells separated by 1-px white lines."""
    g = np.full((rows * (cell + 1) - 1, cols * (cell + 1) - 1), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            g[r * (cell + 1): r * (cell + 1) + cell, c * (cell + 1): c * (cell + 1) + cell] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(g).save(path)


FIDS = {100: 80.0, 200: 41.5, 300: 55.0, 400: 47.0}  # best (min) is at step 200, not the latest


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = tmp_path / "myrun"
    run.mkdir()
    (run / "config.yaml").write_text("preset: digits\ndescription: a fake run\ntrain:\n  steps: 1000\n"
                                     "  batch_size: 64\n  grid_classes: 3\n")
    rng = np.random.default_rng(0)
    lines = []
    for i in range(1, 51):
        step = i * 10
        lines.append(json.dumps({"step": step, "D/loss": 1.5 + rng.normal(0, 0.2), "G/loss": 0.8 + rng.normal(0, 0.2),
                                 "D/real": 0.5, "D/fake": -0.5, "sec_per_step": 0.1, "images_per_sec": 640.0 + i}))
        if step in FIDS:
            lines.append(json.dumps({"step": step, "metric/fid": FIDS[step], "metric/is_mean": step / 100}))
        if step == 250:
            lines.append(json.dumps({"step": step, "event": "rollback", "reason": "D/loss is nan"}))
    (run / "stats.jsonl").write_text("\n".join(lines) + '\n{"step": 510, "D/lo')  # cut short by a crash
    _grid(run / "grids" / "grid-0000100.png", value=0)
    _grid(run / "grids" / "grid-0000500.png", value=128)
    (run / "truncation_sweep.csv").write_text("truncation,fid,is_mean,is_std\n0.5,60.1,4.2,0.1\n"
                                              "1.0,45.3,3.9,0.1\n2.0,50.0,3.5,0.2\n")
    names = [f"class-{c}-name" for c in range(5)]  # 5 classes, grids show 3 of them: 0, 2, 4
    (run / "checkpoints").mkdir()
    torch.save({"format": "condgan-checkpoint-v1", "data": {"class_names": names}},
               run / "checkpoints" / "checkpoint-0000500.pt")
    (run / "metrics-final.json").write_text(json.dumps({"fid": 44.0, "step": 500, "per_class": {"0": 1.0}}))
    return run


def test_full_report_embeds_every_promised_figure(run: Path):
    out = write_report(run)
    assert out == run / "report" / "index.html"
    text, page = _parse(out)
    assert page.scripts == 0 and "http://" not in text and "https://" not in text  # self-contained
    assert set(page.promised) == set(PLOTS) and len(PLOTS) >= 6
    for pid in page.promised:
        assert pid in page.imgs, f"promised figure {pid} is not embedded"
        assert page.imgs[pid].get("alt"), pid
        im = _png(page.imgs[pid]["src"])
        assert im.width >= 30 and im.height >= 20 and im.width * im.height < 4000 * 4000, (pid, im.size)
    for name in ("losses", "metrics", "speed", "truncation", "grid-timeline", "grid-latest"):
        assert (run / "report" / f"{name}.png").is_file()
    # The newest grid (step 500, gray 128), not the first one (black), is shown at full size.
    latest = np.asarray(_png(page.imgs["grid-latest"]["src"]).convert("L"))
    assert latest.shape == (26, 35) and latest[0, 0] == 128
    assert "grid-0000500.png" in text
    assert all(f"class-{c}-name" in text for c in (0, 2, 4)) and "class-1-name" not in text
    # Header: preset, steps done / planned.
    assert "digits" in text and "500 / 1000" in text and "a fake run" in text
    # Best FID is the minimum, latest is the last one logged.
    fid = page.rows["metric-fid"]
    assert float(fid[1]) == FIDS[400] and float(fid[3]) == min(FIDS.values()) and fid[4] == "200"
    is_row = page.rows["metric-is_mean"]
    assert float(is_row[3]) == 4.0  # higher is better for IS
    assert 'id="truncation-table"' in text and "45.3" in text
    assert "metrics-final.json" in text and "per_class.0" in text


def test_report_with_only_stats(tmp_path: Path):
    run = tmp_path / "bare"
    run.mkdir()
    (run / "stats.jsonl").write_text("".join(json.dumps({"step": s, "D/loss": 1.0, "G/loss": 1.0,
                                                         "images_per_sec": 100.0}) + "\n" for s in range(10, 200, 10)))
    out = write_report(run, out=tmp_path / "elsewhere" / "r.html")
    assert out == tmp_path / "elsewhere" / "r.html"
    text, page = _parse(out)
    assert "plot-losses" in page.imgs and "plot-speed" in page.imgs
    _png(page.imgs["plot-losses"]["src"])
    for missing in ("plot-metrics", "plot-truncation", "grid-latest", "grid-timeline"):
        assert missing not in page.imgs and f"{missing}-missing" in page.ids, missing
    assert "No metrics logged during training" in text
    assert "No truncation_sweep.csv" in text and "No metrics-*.json" in text and "No config.yaml" in text
    assert set(page.promised) == set(PLOTS)
    # Every link of the promised list lands on something that exists.
    for target in re.findall(r'<a href="#([^"]+)" data-plot', text):
        assert target in page.ids, target


def test_plots_return_none_without_data(tmp_path: Path):
    assert plots.plot_losses([], tmp_path / "a.png") is None
    assert plots.plot_metrics([{"step": 1, "D/loss": 1.0}], tmp_path / "b.png") is None
    assert plots.plot_speed([{"step": 1, "event": "rollback"}], tmp_path / "c.png") is None
    assert plots.plot_truncation_curve([{"truncation": 1.0}], tmp_path / "d.png") is None
    assert plots.grid_timeline([], tmp_path / "e.png") is None
    assert not list(tmp_path.iterdir())  # and leave no temporary files behind


def test_grid_rows_and_timeline(tmp_path: Path):
    paths = []
    for i, step in enumerate([1000, 200, 30000, 4000, 5000, 600, 7000, 8000]):
        paths.append(tmp_path / f"grid-{step:07d}.png")
        _grid(paths[-1], value=10 * i, rows=6)
    with Image.open(paths[0]) as im:
        assert plots._guess_rows(im) == 6
    out = plots.grid_timeline(paths, tmp_path / "t.png", max_frames=4, max_rows=2)
    assert out is not None and Image.open(out).size[0] > 200
    assert plots.lower_is_better("metric/fid") and plots.lower_is_better("intra_fid")
    assert not plots.lower_is_better("metric/precision")


def test_loss_plot_adds_a_probe_panel_for_classifier_methods(tmp_path):
    from PIL import Image

    from condgan import plots
    rows = [{"step": s, "D/loss": 1.0 / s, "G/loss": 0.5, "D/real": 1.0, "D/fake": -1.0} for s in range(1, 30)]
    probed = [{**r, "probe/feature_norm": 10.0 + r["step"], "probe/cond_grad_norm": 0.1} for r in rows]
    two = Image.open(plots.plot_losses(rows, tmp_path / "a.png")).size[0]
    three = Image.open(plots.plot_losses(probed, tmp_path / "b.png")).size[0]
    assert three > two * 1.3


def test_report_of_a_digits_run_shows_the_analyses(tmp_path, tiny_config, monkeypatch):
    """A trained (tiny) digits run: every analysis section holds its PNG, the neighbours are searched in the
    given domain evaluator's features, the per-class FID comes from the intra-FID evaluation."""
    import condgan
    from condgan.metrics.evaluator import save_evaluator, train_evaluator
    from condgan.report import ANALYSIS_FIGURES

    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "digits"
    condgan.train(tiny_config({"train.steps": 2}), run, progress=False)
    images = np.random.default_rng(0).integers(0, 256, (200, 16, 16, 1), dtype=np.uint8)
    net, acc = train_evaluator(images, np.arange(200) % 10, [str(c) for c in range(10)], epochs=1, width=4,
                               log=lambda s: None)
    save_evaluator(net, tmp_path / "evaluator.pt", [str(c) for c in range(10)], acc, "random")
    per_class = {str(c): 10.0 + (c * 7) % 10 for c in range(10)}
    (run / "metrics-intra.json").write_text(json.dumps({"intra_fid_mean": 14.5, "intra_fid": per_class}))

    out = write_report(run, evaluator=str(tmp_path / "evaluator.pt"))
    text, page = _parse(out)
    assert page.scripts == 0 and "http://" not in text and "https://" not in text  # still self-contained
    assert set(re.findall(r'data-analysis="([^"]+)"', text)) == set(ANALYSIS_FIGURES)
    for fid in ANALYSIS_FIGURES:
        assert fid in page.imgs, f"analysis {fid} is not embedded"
        im = _png(page.imgs[fid]["src"])
        assert im.width >= 200 and im.height >= 100, (fid, im.size)
    for name in ("interpolation-z", "interpolation-class", "neighbours", "class-fid", "spectrum"):
        assert (run / "report" / f"{name}.png").is_file()
    assert "evaluator.pt" in text and "(held-out accuracy" in text  # the neighbours' feature space is named
    assert "metrics-intra.json" in text and "10 classes, worst first" in text

    # --analyses picks sections; none leaves them all out
    _, page = _parse(write_report(run, analyses="spectrum"))
    assert "analysis-spectrum" in page.imgs and "analysis-neighbours" not in page.ids
    text, page = _parse(write_report(run, analyses="none"))
    assert not any(i.startswith("analysis-") for i in page.ids) and "promised-analyses" not in page.ids


def test_analyses_without_a_generator_say_why(run: Path):
    """The fake run's checkpoint holds no networks: each analysis is a note, not a crash."""
    text, page = _parse(write_report(run))
    for fid in ("analysis-interp-z", "analysis-neighbours", "analysis-spectrum"):
        assert f"{fid}-missing" in page.ids and fid not in page.imgs
    assert "No generator to analyse" in text
    assert "analysis-class-fid-missing" in page.ids and "--metrics intra_fid" in text
    from condgan.errors import UsageError
    with pytest.raises(UsageError, match="unknown analysis 'spectra'"):
        write_report(run, analyses="spectra,interpolation")
