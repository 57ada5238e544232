"""Networks: sphere-aware building blocks (`blocks`) and the conditional U-Net denoiser (`denoiser`)."""
