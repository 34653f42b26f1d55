"""Tables: the tabular synthesizer and its model families (GAN, VAE, Gaussian copula)."""
