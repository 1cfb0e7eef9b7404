"""Report table and rendering from saved results (no replay needed)."""

import json

import numpy as np

from training.report import build_report, load_results, markdown_table, result_stem, table_rows


def _doc(model, data, results):
    return {"model": model, "data": data, "config": {}, "results": results, "seconds": 1.0}


def test_table_has_every_model_dataset_and_profile(tmp_path):
    nab = {g: {p: {"score": s, "threshold": 0.9, "files": {}} for p, s in
               (("standard", 50.0), ("reward_low_FP_rate", 40.0), ("reward_low_FN_rate", 55.0))}
           for g in ("corpus", "realKnownCause")}
    docs = [
        _doc("iforest", "nab", {"nab": nab}),
        _doc("iforest", "skab", {"skab": {"f1": 0.81, "far": 0.1, "mar": 0.2, "files": {"valve1/0": {"threshold": 1.0}}}}),
        _doc("iforest", "sim", {"labelled": {"point": {"f1": 0.5}, "event": {"recall": 0.75, "mean_delay_ms": 12000.0},
                                             "threshold": 2.0}}),
        _doc("zscore", "skab", {"skab": {"f1": 0.7, "far": 0.05, "mar": 0.4, "files": {}}}),
    ]
    for d in docs:
        (tmp_path / f"{result_stem(d['model'], d['data'])}.json").write_text(json.dumps(d))
    ts = np.arange(0, 50_000, 1000, dtype=np.int64)
    np.savez(tmp_path / "iforest__skab.npz", **{
        "skab|valve1/0|ts": ts, "skab|valve1/0|value": np.sin(ts / 5000.0),
        "skab|valve1/0|label": (ts > 40_000).astype(int), "skab|valve1/0|score": np.linspace(0, 2, ts.size),
        "skab|valve1/0|pred": (np.linspace(0, 2, ts.size) > 1.5).astype(np.int8),
        "skab|valve1/0|threshold": np.array([1.5])})
    res = load_results(tmp_path)
    cols, rows = table_rows(res)
    by = {r[0]: dict(zip(cols, r)) for r in rows}
    assert by["iforest"]["NAB realKnownCause std"] == "50.0"
    assert by["iforest"]["NAB realKnownCause lowFP"] == "40.0"
    assert by["iforest"]["NAB corpus std"] == "50.0"
    assert by["iforest"]["SKAB F1"] == "0.810" and by["iforest"]["SKAB FAR %"] == "10.0"
    assert by["iforest"]["sim F1"] == "0.500" and by["iforest"]["sim delay s"] == "12"
    assert by["zscore"]["NAB realKnownCause std"] == "–"
    md = markdown_table(cols, rows)
    assert md.count("\n") == 2 + len(rows)
    html, summary = build_report(tmp_path, tmp_path / "out")
    text = html.read_text()
    assert text.count("data:image/png;base64,") >= 2  # a series plot and a score distribution
    assert "Measured" in summary.read_text() and "SKAB F1" in summary.read_text()


def test_report_shows_published_nab_detectors_on_our_files(tmp_path) -> None:
    """With NAB results present, the summary and the HTML carry ARTime / HTM / CAD OSE
    re-normalised on the same NAB files (needs NAB's labels from $VIGIL_DATASETS)."""
    from eval_fixtures import require_dataset

    require_dataset("nab/labels/combined_windows.json")
    doc = {"model": "zscore", "data": "nab", "seconds": 1.0, "config": {},
           "results": {"nab": {"corpus": {p: {"score": 40.0, "threshold": 1.0, "files": {}}
                                          for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")}}}}
    (tmp_path / f"{result_stem('zscore', 'nab')}.json").write_text(json.dumps(doc))
    html, summary = build_report(tmp_path, tmp_path / "out", with_figures=False)
    md = summary.read_text()
    assert "Published NAB detectors on the same files" in md
    row = next(line for line in md.splitlines() if line.startswith("| ARTime"))
    assert "68.9" in row and "74.9" in row
    assert "CAD OSE" in html.read_text()
