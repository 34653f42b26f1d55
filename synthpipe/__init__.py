"""synthpipe: tabular generative models (TabularSynthesizer) and the pipeline library around them."""

__all__ = ["TabularSynthesizer"]


def __getattr__(name: str):
    # Imported on first use: the `synthpipe` command and the stages that do not train stay free of torch.
    if name == "TabularSynthesizer":
        from synthpipe.tabular.synthesizer import TabularSynthesizer

        return TabularSynthesizer
    raise AttributeError(f"module 'synthpipe' has no attribute {name!r}")
