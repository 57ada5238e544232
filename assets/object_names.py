"""The names of the objects the verification assets store: each init's score tables
(`verification_scores`), the summary's text, inits and pooled tables (`verification_summary`) and
the report's page (`verification_report`). The asset that writes an object and those that read it
import its name from here, so a name lives once. The main score table is the store's default
table, `seeds_dag.store.objects.TABLE` ("table.parquet")."""

# Per-init tables; the summary stores its pooled extremes, reliability, bias maps and spectra
# under the same names.
RANK_HISTOGRAMS = "rank_histograms.parquet"
EXTREMES, RELIABILITY, ROC = "extremes.parquet", "reliability.parquet", "roc.parquet"
BIAS_MAPS, SPECTRA = "bias_maps.parquet", "spectra.parquet"
# The pooled zonal power of the emulated members over the physics members' (summary only).
POWER_RATIO = "power_ratio.parquet"
COHERENCE = "coherence.parquet"
# Per-init moments at adjacent latitudes, and (summary) their coherence per model, variable, lead.
MERIDIONAL = "meridional_coherence.parquet"
# Per-init tables of the multivariate scores, and the pooled tables the report draws.
MULTIVARIATE, VARIABLE_MOMENTS = "multivariate.parquet", "variable_moments.parquet"
ENERGY_SCORE, VARIABLE_CORRELATION = "energy_score.parquet", "variable_correlation.parquet"
CRPS_CLAIM = "crps_claim.parquet"
# Per-init perfect-model scores and rank counts, and the pooled table the report draws.
PERFECT_MODEL, PERFECT_MODEL_RANKS = "perfect_model.parquet", "perfect_model_ranks.parquet"
# Per-init variance of members about the seeds' mean by scale, and its pooled ratio to physics.
CALIBRATION = "calibration.parquet"
# The summary's realism scorecard (`targets.realism_scorecard`) of the pooled tables.
REALISM = "realism.parquet"
INITS_OBJECT = "inits.json"
"""The scores partitions a summary pooled (the report draws from exactly those)."""
SUMMARY_TEXT, HEADLINE_TEXT = "summary.txt", "headline.txt"
"""The summary's whole text, and the headline the main job prints (`verification.headline`)."""
REPORT = "verification_report"
"""The report's asset (`assets/report.py`), named here too so that a reader of its page
(`seeds-dag report`) finds it without loading the asset definitions."""
REPORT_PAGE = "report.html"
"""The self-contained HTML report under the storage root."""
