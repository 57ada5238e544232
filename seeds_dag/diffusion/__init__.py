"""Diffusion: EDM preconditioning and loss (`edm`), noise schedules and samplers (`sampler`)."""
