"""NAB's published detectors, re-normalised on the files we have.

NAB's scoreboard (ARTime 74.9, HTM 70.5, CAD OSE 69.9 standard) is measured on the full
58-file corpus; ``../shared/datasets/nab`` holds 19 of those files (artificialWithAnomaly,
realKnownCause, realAdExchange). To know what a score *on these 19 files* means, this module
takes the per-file raw scores those detectors published (``results/<detector>/
<detector>_standard_scores.csv`` in numenta/NAB, standard profile, computed with the
detector's own corpus-optimised threshold) and normalises their sums with our scorer's null
and perfect totals for the same files and categories.

Assumption (and why the numbers are a slight *under*-estimate): the published thresholds were
optimised over all 58 files, ours over the 19; a detector re-swept on the 19 files alone could
only score the same or higher.

>>> normalise_subset({"a/x.csv": 1.0, "a/y.csv": -1.0}, {"a/x.csv": 1, "a/y.csv": 1})
{'corpus': 50.0, 'a': 50.0}
"""

from __future__ import annotations

from collections.abc import Mapping

from training.nab_scorer import normalise

#: numenta/NAB ``results/<d>/<d>_standard_scores.csv``, column ``Score``, for our 19 files
#: (ARTime @ 5a98e4f, numenta @ 0767135, contextOSE @ 059c782).
PUBLISHED_STANDARD: dict[str, dict[str, float]] = {
    "ARTime": {
        "artificialWithAnomaly/art_daily_flatmiddle.csv": 0.8039739326751801,
        "artificialWithAnomaly/art_daily_jumpsdown.csv": 0.9934530536103384,
        "artificialWithAnomaly/art_daily_jumpsup.csv": 0.8589086704377245,
        "artificialWithAnomaly/art_daily_nojump.csv": -1.11,
        "artificialWithAnomaly/art_increase_spike_density.csv": 0.846035950698122,
        "artificialWithAnomaly/art_load_balancer_spikes.csv": 0.0493832824805146,
        "realAdExchange/exchange-2_cpc_results.csv": 0.5319830425923286,
        "realAdExchange/exchange-2_cpm_results.csv": -0.14465135576188293,
        "realAdExchange/exchange-3_cpc_results.csv": 2.7007622427413946,
        "realAdExchange/exchange-3_cpm_results.csv": 0.6422052124689215,
        "realAdExchange/exchange-4_cpc_results.csv": 2.046652209252552,
        "realAdExchange/exchange-4_cpm_results.csv": 1.2574684165754575,
        "realKnownCause/ambient_temperature_system_failure.csv": 1.6577326504395065,
        "realKnownCause/cpu_utilization_asg_misconfiguration.csv": -0.257470331859453,
        "realKnownCause/ec2_request_latency_system_failure.csv": 1.3905835377463662,
        "realKnownCause/machine_temperature_system_failure.csv": 2.5563301921824606,
        "realKnownCause/nyc_taxi.csv": 3.775210013719179,
        "realKnownCause/rogue_agent_key_hold.csv": -1.280892312855327,
        "realKnownCause/rogue_agent_key_updown.csv": -2.567650916046798,
    },
    "HTM (numenta)": {
        "artificialWithAnomaly/art_daily_flatmiddle.csv": 0.441127306693,
        "artificialWithAnomaly/art_daily_jumpsdown.csv": 0.748908670438,
        "artificialWithAnomaly/art_daily_jumpsup.csv": 0.748908670438,
        "artificialWithAnomaly/art_daily_nojump.csv": -1.0,
        "artificialWithAnomaly/art_increase_spike_density.csv": 0.64067182427,
        "artificialWithAnomaly/art_load_balancer_spikes.csv": 0.734788146524,
        "realAdExchange/exchange-2_cpc_results.csv": -1.22,
        "realAdExchange/exchange-2_cpm_results.csv": 1.5532103731,
        "realAdExchange/exchange-3_cpc_results.csv": 0.640916943935,
        "realAdExchange/exchange-3_cpm_results.csv": -1.0,
        "realAdExchange/exchange-4_cpc_results.csv": -1.31938189079,
        "realAdExchange/exchange-4_cpm_results.csv": 1.44270035668,
        "realKnownCause/ambient_temperature_system_failure.csv": 1.32263476448,
        "realKnownCause/cpu_utilization_asg_misconfiguration.csv": -0.573048875912,
        "realKnownCause/ec2_request_latency_system_failure.csv": 1.98538099556,
        "realKnownCause/machine_temperature_system_failure.csv": 2.89321665609,
        "realKnownCause/nyc_taxi.csv": 2.34189230683,
        "realKnownCause/rogue_agent_key_hold.csv": -0.867400232622,
        "realKnownCause/rogue_agent_key_updown.csv": -1.18575982814,
    },
    "CAD OSE": {
        "artificialWithAnomaly/art_daily_flatmiddle.csv": 0.795472168219,
        "artificialWithAnomaly/art_daily_jumpsdown.csv": 0.658548632405,
        "artificialWithAnomaly/art_daily_jumpsup.csv": 0.86067182427,
        "artificialWithAnomaly/art_daily_nojump.csv": -1.33,
        "artificialWithAnomaly/art_increase_spike_density.csv": 0.86241650019,
        "artificialWithAnomaly/art_load_balancer_spikes.csv": 0.490378699165,
        "realAdExchange/exchange-2_cpc_results.csv": 0.890719864077,
        "realAdExchange/exchange-2_cpm_results.csv": -0.463742482153,
        "realAdExchange/exchange-3_cpc_results.csv": 2.48872770811,
        "realAdExchange/exchange-3_cpm_results.csv": 0.862098587352,
        "realAdExchange/exchange-4_cpc_results.csv": 0.51228290525,
        "realAdExchange/exchange-4_cpm_results.csv": 1.60471036268,
        "realKnownCause/ambient_temperature_system_failure.csv": -0.428599859273,
        "realKnownCause/cpu_utilization_asg_misconfiguration.csv": -0.192966801603,
        "realKnownCause/ec2_request_latency_system_failure.csv": 1.99064449099,
        "realKnownCause/machine_temperature_system_failure.csv": 1.63827759294,
        "realKnownCause/nyc_taxi.csv": -1.42976791841,
        "realKnownCause/rogue_agent_key_hold.csv": -0.959262194153,
        "realKnownCause/rogue_agent_key_updown.csv": -2.22,
    },
}

#: Their full-corpus (58 files) standard scores from NAB's scoreboard, for context.
FULL_CORPUS_STANDARD = {"ARTime": 74.9, "HTM (numenta)": 70.5, "CAD OSE": 69.9}


def normalise_subset(scores: Mapping[str, float], windows: Mapping[str, int]) -> dict[str, float]:
    """Normalised standard scores (``corpus`` and per category) of published per-file raw
    ``scores``, given each file's number of label ``windows``.

    Standard profile only: the null detector never fires, so its total is ``-windows`` (A_fn
    1) and the perfect total ``+windows`` (A_tp 1). Raises ``KeyError`` for a file without a
    window count.
    """
    out: dict[str, float] = {}
    cats = sorted({name.split("/")[0] for name in scores})
    for group in ["corpus", *cats]:
        names = [n for n in scores if group == "corpus" or n.startswith(group + "/")]
        w = sum(windows[n] for n in names)
        out[group] = normalise(sum(scores[n] for n in names), -float(w), float(w))
    return out


def published_on_subset(labels: Mapping[str, list]) -> dict[str, dict[str, float]]:
    """Every published detector of :data:`PUBLISHED_STANDARD`, normalised on our files, with
    window counts from NAB's ``combined_windows.json`` (``labels``: relative path → windows)."""
    windows = {name: len(labels[name]) for name in PUBLISHED_STANDARD["ARTime"]}
    return {det: normalise_subset(s, windows) for det, s in PUBLISHED_STANDARD.items()}
