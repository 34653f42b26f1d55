import numpy as np
import torch

from synthpipe.config import TrainConfig
from synthpipe.gan import load_generator, sample_encoded, save_gan, train_gan
from synthpipe.transform import TableTransformer

CFG = TrainConfig(epochs=20, batch_size=100, generator_dims=[64, 64], critic_dims=[64, 64], noise_dim=16)


def fit(penguins, seed=3):
    transformer = TableTransformer.fit(penguins)
    data = torch.from_numpy(transformer.encode(penguins).astype(np.float32))
    return transformer, train_gan(data, tuple(transformer.spans), CFG, seed=seed)


def test_training_logs_every_epoch_with_finite_losses(penguins):
    _, model = fit(penguins)
    assert [r["epoch"] for r in model.history] == list(range(1, 21))
    assert all(np.isfinite(r["generator_loss"]) and np.isfinite(r["critic_loss"]) for r in model.history)
    assert all(r["rows_per_s"] > 0 for r in model.history)


def test_same_seed_same_weights_other_seed_differs(penguins):
    _, a = fit(penguins, seed=3)
    _, b = fit(penguins, seed=3)
    _, c = fit(penguins, seed=4)
    for (name, wa), wb in zip(a.generator.state_dict().items(), b.generator.state_dict().values()):
        assert torch.equal(wa, wb), name
    assert not torch.equal(a.generator.body[-1].weight, c.generator.body[-1].weight)


def test_samples_are_valid_rows_and_reproducible(penguins, tmp_path):
    transformer, model = fit(penguins)
    save_gan(model, tmp_path, {"rows": len(penguins)})
    generator, shape, config = load_generator(tmp_path, torch.device("cpu"))
    assert len(config["run_id"]) == 16
    chunks = list(sample_encoded(generator, shape, 250, seed=9, chunk_rows=100))
    assert [len(c) for c in chunks] == [100, 100, 50]
    encoded = np.concatenate(chunks)
    again = np.concatenate(list(sample_encoded(generator, shape, 250, seed=9, chunk_rows=100)))
    np.testing.assert_array_equal(encoded, again)
    # every softmax block is a hard one-hot
    start = 0
    for span in shape.spans:
        block = encoded[:, start : start + span.width]
        if span.activation == "softmax":
            assert (block.sum(axis=1) == 1).all() and set(np.unique(block)) <= {0.0, 1.0}
        start += span.width
    decoded = transformer.decode(encoded)
    assert list(decoded.columns) == list(penguins.columns)
    assert (decoded.dtypes == penguins.dtypes).all()
    assert set(decoded["species"]) <= set(penguins["species"])


def test_saved_model_has_no_pickle(penguins, tmp_path):
    _, model = fit(penguins)
    save_gan(model, tmp_path, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "weights.safetensors"]
    assert not (tmp_path / "weights.safetensors").read_bytes().startswith(b"\x80")  # pickle protocol marker
