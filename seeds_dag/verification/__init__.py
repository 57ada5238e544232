"""Verification of forecast ensembles against truth at the valid time (ARCHITECTURE.md, Verification).

Every score is a small function over xarray with named dims
``(init_time, lead_time, member, lat, lon)``, cos(latitude)-weighted through the one helper in
:mod:`seeds_dag.weighting` (``area_weights``, ``spatial_mean``; beside the conventions, as the
truth at the valid times is, :mod:`seeds_dag.truth_alignment`, because training and normalisation
use them too):

- :mod:`~seeds_dag.verification.scores`: fair CRPS (scoringrules), ensemble-mean
  RMSE, spread, spread/skill with the finite-ensemble correction, rank histograms (xskillscore)
  and their flatness;
- :mod:`~seeds_dag.verification.scores_table`: the long per-init score table, its pandera schema,
  the summary over initialisations that a report prints, and the helpers every table shares;
- :mod:`~seeds_dag.verification.coherence` and ``coherence_table``: correlation of a member's
  deviation from its ensemble mean between consecutive leads, its per-init moments and pooling;
- :mod:`~seeds_dag.verification.spectra` and ``spectra_table``: zonal power spectra, and the
  members' power relative to the physics members' at wavenumbers 1..15;
- :mod:`~seeds_dag.verification.bias` and ``bias_table``: bias maps of the ensemble mean and their
  area mean;
- :mod:`~seeds_dag.verification.perfect_model` and ``perfect_model_summary``: the seeds, ideal-K
  (built without the member playing truth) and the emulated ensembles scored against each
  non-seed physics member in turn, per init, pooled over inits, and the figure of merit (fair
  CRPS over ideal-K's);
- :mod:`~seeds_dag.verification.scoringrules_loader`: scoringrules imported under a file lock, so
  that processes starting at once cannot leave numba's cache of its gufuncs mismatched.
"""
