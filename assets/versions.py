"""Code versions of the assets (Dagster's `code_version`): bump an asset's entry when a change of
its code changes what it produces from the same inputs and settings. The UI then marks it and
everything downstream as stale ("code version changed"), and the automation
(`assets.automation`) knows which results describe older code. Refactors that leave results
unchanged keep the version."""

CODE_VERSIONS = {
    "physics_spinup": "1",
    "truth": "1",
    "reforecast_shards": "1",
    "operational_ensemble": "1",
    "normalization_stats": "1",
    "climatology": "1",
    # 2: the crps generator's lead term scores lead sums and differences (was increments).
    # 3: by default its output filtered to the physics members' cross-spectra, with output noise
    # drawn as a chain from latitude to latitude (`DenoiserConfig.output_cross_spectrum`, `output_noise`).
    # 4: the chain complex, per variable and latitude pair; the output noise's amplitude a map the
    # network gives (`output_noise_map`).
    # 5: by default its members lie about the seeds' mean shrunk towards the climate
    # (`seed_mean_shrinkage`).
    "trained_emulator": "5",
    # 3: by default a post-processing frame around the emulator (was an edm generator trained on the truth).
    # 4: the frame centred on the emulator's centre (the shrunk seed mean where it shrinks).
    "post_processor": "4",
    # 2: provenance (seed members, models) recorded in the artifact. 3: the edm generator's
    # solver is DPM-Solver++(2M), 16 steps log-uniform from σ = 80 (was 4 Heun steps from 10).
    # 4: a post-processor's frame applied to the members it draws.
    "daily_emulated_ensembles": "4",
    # 2: the seeds' ensemble read from the ensemble's provenance; climatology from its asset.
    # 3: perfect-model scores (each non-seed physics member plays the truth).
    # 4: the latitude-to-latitude coherence of members (meridional_coherence.parquet).
    "verification_scores": "4",
    "verification_summary": "4",
    "verification_report": "2",
}
