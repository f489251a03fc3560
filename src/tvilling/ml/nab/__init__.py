"""NAB v1.1 scoring (Lavin & Ahmad 2015), pure functions over arrays.

The rules follow the NAB repository's ``sweeper.py`` / ``optimizer.py`` / ``runner.normalize``:
anomaly windows, a scaled sigmoid of the relative position, the first (earliest) detection inside a window
counts, every false positive costs ``fpWeight`` scaled by its distance past the previous window, a
probationary period of ``min(floor(0.15 * n), 750)`` rows that is ignored, one threshold per detector and
profile optimised over the whole corpus, and normalisation against the null and the perfect detector.
"""

from tvilling.ml.nab.scoring import (
    PROFILES,
    CorpusScore,
    FileData,
    Profile,
    load_profiles,
    normalise,
    optimise_threshold,
    probationary_length,
    scaled_sigmoid,
    score_corpus,
    score_file_at_threshold,
    sweep_scores,
)

__all__ = [
    "PROFILES",
    "CorpusScore",
    "FileData",
    "Profile",
    "load_profiles",
    "normalise",
    "optimise_threshold",
    "probationary_length",
    "scaled_sigmoid",
    "score_corpus",
    "score_file_at_threshold",
    "sweep_scores",
]
