"""The verification report: figures and a self-contained HTML page (ARCHITECTURE.md, Asset
graph and Verification).

- :mod:`~seeds_dag.report.panels`: what every figure shares: panel size, colours per model
  family, units, the check of a figure's table, a panel grid with one legend;
- :mod:`~seeds_dag.report.figures`: PNG bytes of CRPS (fair and standard) and spread/skill by
  lead, rank histograms, reliability diagrams, bias maps, zonal spectra and power ratios to
  physics, lead-to-lead coherence and example member maps, from the long tables of
  :mod:`seeds_dag.verification`;
- :mod:`~seeds_dag.report.multivariate_figures`: the energy score by lead and the cross-variable
  correlation of members by lead;
- :mod:`~seeds_dag.report.perfect_model_figures`: each emulated ensemble's fair CRPS over
  ideal-K's by lead against a physics member as the truth, with the target;
- :mod:`~seeds_dag.report.calibration_figures`: each emulated ensemble's variance about the
  seeds' mean over the physics members', by lead and zonal wavenumber band, with the target;
- :mod:`~seeds_dag.report.html`: one HTML document with the figures embedded as data URIs and
  the tables side by side per model.
"""
