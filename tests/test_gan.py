import numpy as np
import torch

from synthpipe.conditions import CondLayout, CondSampler
from synthpipe.config import TrainConfig
from synthpipe.gan import HalfDropout, train_gan
from synthpipe.transform import TableTransformer

CFG = TrainConfig(epochs=8, batch_size=100, generator_dims=[32, 32], critic_dims=[32, 32], noise_dim=16)


def fit(penguins, seed=3):
    transformer = TableTransformer.fit(penguins)
    data = torch.from_numpy(transformer.encode(penguins))
    return train_gan(data, tuple(transformer.spans), CondLayout.of(transformer), CFG, seed=seed)


def test_training_logs_every_epoch_with_finite_losses(penguins):
    model = fit(penguins)
    assert [r["epoch"] for r in model.history] == list(range(1, 9))
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["critic_loss"]) for r in model.history)
    assert all(r["rows_per_s"] > 0 for r in model.history)


def test_same_seed_same_weights_other_seed_differs(penguins):
    a, b, c = fit(penguins, seed=3), fit(penguins, seed=3), fit(penguins, seed=4)
    for (name, wa), wb in zip(a.generator.state_dict().items(), b.generator.state_dict().values()):
        assert torch.equal(wa, wb), name
    assert not torch.equal(a.generator.body[-1].weight, c.generator.body[-1].weight)


def test_training_by_sampling_draws_rows_matching_the_condition_and_favours_rare_levels(penguins):
    transformer = TableTransformer.fit(penguins)
    layout = CondLayout.of(transformer)
    data = torch.from_numpy(transformer.encode(penguins))
    torch.manual_seed(0)
    cond, column, slot, rows = CondSampler(layout, data).training_batch(20_000)
    assert (cond.sum(dim=1) == 1).all()
    for j, (start, width) in enumerate(zip(layout.starts, layout.widths)):
        chosen = column == j
        # every real row drawn has the level its conditional vector asks for
        assert torch.equal(data[rows[chosen], start : start + width].argmax(dim=1), slot[chosen])
    # log-frequency sampling: species levels are drawn far more evenly than their real shares
    species = layout.columns.index("species")
    drawn = torch.bincount(slot[column == species], minlength=3).float()
    real = torch.tensor(penguins["species"].value_counts().sort_index().to_numpy(), dtype=torch.float)
    assert (drawn / drawn.sum()).min() > (real / real.sum()).min()


def test_half_dropout_drops_half_the_units_and_keeps_the_mean():
    torch.manual_seed(0)
    dropout, x = HalfDropout(), torch.ones(300, 257)  # 257: the last 63-bit word is only partly used
    out = dropout(x)
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert abs((out == 0).float().mean().item() - 0.5) < 0.01
    assert abs(out.mean().item() - 1.0) < 0.02
    assert not torch.equal(out, dropout(x))  # a fresh mask every call
    assert torch.equal(dropout.eval()(x), x)  # sampling: no dropout
    column_rate = (out == 0).float().mean(dim=0)  # every unit, whatever its bit position, is dropped as often
    assert column_rate.min() > 0.4 and column_rate.max() < 0.6
