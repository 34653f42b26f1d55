"""Images: ingest of labelled image sets, a class-conditional convolutional GAN, and classifier-based quality.

Images travel between stages as Parquet tables of PNG bytes plus label, height and width columns; inside a
stage they are one uint8 tensor (N, C, H, W) with integer class indices.
"""
