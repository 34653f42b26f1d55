import numpy as np
import torch

from synthpipe.config import TrainConfig
from synthpipe.tabular.conditions import CondLayout, CondSampler
from synthpipe.tabular.gan import HalfDropout, train_gan
from synthpipe.tabular.transform import TableTransformer

CFG = TrainConfig(epochs=8, min_steps=0, batch_size=100, generator_dims=[32, 32], critic_dims=[32, 32], noise_dim=16)


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
    dropout, x = HalfDropout(), torch.ones(300, 257)  # 257: the last 64-bit word is only partly used
    out = dropout(x)
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert abs((out == 0).float().mean().item() - 0.5) < 0.01
    assert abs(out.mean().item() - 1.0) < 0.02
    assert not torch.equal(out, dropout(x))  # a fresh mask every call
    assert torch.equal(dropout.eval()(x), x)  # sampling: no dropout
    column_rate = (out == 0).float().mean(dim=0)  # every unit, whatever its bit position, is dropped as often
    assert column_rate.min() > 0.4 and column_rate.max() < 0.6


def test_networks_trained_in_the_training_order_come_back_computing_the_same_functions(penguins):
    from synthpipe.tabular.blocks import TrainingLayout
    from synthpipe.tabular.gan import Critic, GanShape, Generator, to_encoded_order

    transformer = TableTransformer.fit(penguins)
    spans, layout = tuple(transformer.spans), CondLayout.of(transformer)
    order = TrainingLayout(spans)
    shape = GanShape(spans, layout.width, 16, (32, 32), (32, 32), 10)
    torch.manual_seed(0)
    generator, critic = Generator(shape).eval(), Critic(shape).eval()
    noise, cond = torch.randn(50, 16), torch.zeros(50, layout.width)
    rows = torch.from_numpy(transformer.encode(penguins.head(50)))
    before = generator(noise, cond), critic(torch.cat([rows[:, order.order], cond], dim=1))
    to_encoded_order(generator, critic, order)
    after = generator(noise, cond), critic(torch.cat([rows, cond], dim=1))
    assert torch.allclose(after[0][:, order.order], before[0], atol=1e-6)  # same outputs, in the encoded order
    assert torch.allclose(after[1], before[1], atol=1e-5)


def test_training_rows_are_tanh_values_then_blocks_that_each_sum_to_one(penguins):
    from synthpipe.tabular.blocks import TrainingLayout, span_starts

    spans = tuple(TableTransformer.fit(penguins).spans)
    order = TrainingLayout(spans)
    assert sorted(order.order.tolist()) == list(range(sum(s.width for s in spans)))  # a permutation
    torch.manual_seed(0)
    raw, cond = 3 * torch.randn(200, len(order.order)), torch.ones(200, 2)
    out = order.soft_rows(raw, 0.2, cond)
    assert torch.equal(out[:, -2:], cond)  # the conditional vectors follow the rows
    assert torch.allclose(out[:, : order.tanh_width], torch.tanh(raw[:, : order.tanh_width]))
    start = order.tanh_width
    for width, count in order.groups:  # slot-major: slot k of every block of the group, then slot k + 1
        blocks = out[:, start : start + width * count].reshape(200, width, count)
        assert torch.allclose(blocks.sum(dim=1), torch.ones(200, count), atol=1e-5)
        start += width * count
    # each softmax block of the encoded layout is found again by TrainingLayout.blocks (the condition loss reads them)
    soft = [(start, s.width) for start, s in zip(span_starts(spans), spans) if s.activation == "softmax"]
    blocks = order.blocks([start for start, _ in soft], [width for _, width in soft])
    for i, (start, width) in enumerate(soft):
        columns = blocks.gather[i, : width]
        assert torch.equal(order.order[columns], torch.arange(start, start + width))  # slot k -> encoded column k
        assert torch.allclose(out[:, columns].sum(dim=1), torch.ones(200), atol=1e-5)


def test_the_explicit_penalty_gradient_equals_autograds_double_backward():
    from synthpipe.tabular.gan import Critic, GanShape, gradient_penalty
    from synthpipe.tabular.transform import Span

    shape = GanShape((Span("softmax", 37),), 3, 16, (32,), (64, 48), 10)
    real, fake = torch.randn(100, 40), torch.randn(100, 40)

    def autograd_penalty(critic, real, fake):
        alpha = torch.rand(10, 1, 1).expand(10, 10, 40).reshape(real.shape)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
        return ((grad.reshape(10, -1).norm(2, dim=1) - 1) ** 2).mean()

    for train_mode in (True, False):  # with dropout (same masks: same seed, same draws) and without
        results = []
        for penalty in (autograd_penalty, gradient_penalty):
            torch.manual_seed(0)
            critic = Critic(shape).train(train_mode)
            torch.manual_seed(1)
            value = penalty(critic, real, fake)
            value.backward()
            # a parameter the penalty does not reach (the biases: they only move where the slopes change) has
            # no gradient in one and zeros in the other
            results.append((value.detach(),
                            [torch.zeros_like(p) if p.grad is None else p.grad for p in critic.parameters()]))
        (expected, expected_grads), (value, grads) = results
        assert torch.allclose(value, expected, rtol=1e-5)
        for a, b in zip(grads, expected_grads):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_training_noise_has_the_moments_of_its_distribution_and_follows_the_seed():
    from synthpipe.tabular.noise import gumbel_noise, normal_noise

    torch.manual_seed(0)
    normal, gumbel = normal_noise(1000, 999, torch.device("cpu")), gumbel_noise(1000, 999, torch.device("cpu"))
    assert normal.shape == gumbel.shape == (1000, 999)
    assert abs(normal.mean()) < 0.005 and abs(normal.std() - 1) < 0.005
    assert abs(gumbel.mean() - 0.5772) < 0.005 and abs(gumbel.var() - np.pi**2 / 6) < 0.01  # Euler's constant, pi^2/6
    assert abs((normal > 1.96).float().mean() - 0.025) < 0.001  # the tails are there, not just the moments
    torch.manual_seed(0)
    assert torch.equal(normal_noise(1000, 999, torch.device("cpu")), normal)
    assert normal_noise(3, 4, torch.device("cpu"), torch.bfloat16).dtype == torch.bfloat16


def residual_stack(generator, noise, cond):
    """CTGAN's generator written out: each layer's output is concatenated in front of its input."""
    import torch.nn.functional as F

    x = torch.cat([noise, cond], dim=1)
    for residual in generator.body[:-1]:
        x = torch.cat([F.relu(residual.bn(F.linear(x, residual.fc.weight, residual.fc.bias))), x], dim=1)
    return F.linear(x, generator.body[-1].weight, generator.body[-1].bias)


def small_networks(seed=0):
    from synthpipe.tabular.gan import Critic, GanShape, Generator
    from synthpipe.tabular.transform import Span

    shape = GanShape((Span("tanh", 1), Span("softmax", 5)), 3, 8, (16, 12, 10), (24,), 2)
    torch.manual_seed(seed)
    return Generator(shape), Critic(shape)


def test_the_generator_multiplies_its_input_apart_and_computes_the_residual_stack():
    generator, _ = small_networks()
    noise, cond = torch.randn(64, 8), torch.eye(3)[torch.randint(3, (64,))]
    assert torch.allclose(generator(noise, cond), residual_stack(generator, noise, cond), atol=1e-5)
    out = generator.eval()(noise, cond)  # with the running statistics, as when sampling
    assert torch.allclose(out, residual_stack(generator, noise, cond), atol=1e-5)


def test_working_copies_give_the_parameters_their_gradients_and_follow_each_step():
    from synthpipe.tabular.gan import drop_working_copies, working_copies
    from synthpipe.training import Adam, update

    (generator, critic), (reference, reference_critic) = small_networks(), small_networks()
    critic.eval(), reference_critic.eval()  # no dropout: the same critic function for both
    noise, cond = torch.randn(64, 8), torch.eye(3)[torch.randint(3, (64,))]
    # float32 copies: the same numbers as the parameters, so the gradients must match the plain networks' own
    copies = working_copies(generator, torch.float32)
    for network, critic_of in ((generator, critic), (reference, reference_critic)):
        loss = critic_of(torch.cat([network(noise, cond), cond], dim=1)).mean()
        if network is generator:
            optimizer = Adam(generator.parameters(), 1e-2, copies=copies)
            update(optimizer, loss)  # gradients for the generator only, then one step
        else:
            grads = torch.autograd.grad(loss, list(reference.parameters()))
    for name, expected in zip(dict(reference.named_parameters()), grads):
        assert torch.allclose(dict(generator.named_parameters())[name].grad, expected, atol=1e-6), name
    assert all(p.grad is None for p in critic.parameters())  # the critic's gradients were not computed
    # the step moved the parameters, and the copies (each a piece of a weight) moved with them
    assert not torch.equal(generator.body[-1].weight, reference.body[-1].weight)
    last = generator.body[-1]
    on_hidden, on_input, bias = last.pieces()
    assert torch.equal(torch.cat([on_hidden, on_input], dim=1), last.weight) and torch.equal(bias, last.bias)
    drop_working_copies(generator)
    assert last.pieces()[1].data_ptr() == last.weight[:, last.hidden :].data_ptr()  # views of the parameters again
