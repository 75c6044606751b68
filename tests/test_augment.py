import pytest
import torch
import torch.nn.functional as F
from torch import nn

from condgan.augment import AdaptiveAugment, cr_augment, diff_augment


def images(seed=0, b=6, c=3, h=8, w=8):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def seeded(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("augment", [lambda x, g: diff_augment(x, generator=g), cr_augment])
def test_gradients_reach_the_generator_through_the_augmentation(augment):
    torch.manual_seed(0)
    gen = nn.Linear(4, 3 * 8 * 8)
    x = torch.tanh(gen(torch.randn(5, 4))).view(5, 3, 8, 8)
    d_weights = torch.randn(3, 8, 8)  # a fixed linear "discriminator"
    (augment(x, seeded(1)) * d_weights).sum().backward()
    assert torch.isfinite(gen.weight.grad).all() and gen.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("p", [0.0, torch.tensor(0.0)])
def test_probability_zero_is_exactly_the_identity(p):
    x = images()
    assert torch.equal(diff_augment(x, p=p, generator=seeded(0)), x)
    assert torch.equal(diff_augment(x, policy="", generator=seeded(0)), x)


def test_probability_applies_per_sample():
    x = images(b=64)
    out = diff_augment(x, policy="color", p=torch.tensor(0.5), generator=seeded(0))
    changed = (out != x).flatten(1).any(dim=1)
    # three independent coins of 1/2: a sample stays untouched with probability 1/8
    assert 0 < (~changed).sum() < 24 and changed.sum() > 40


def test_seed_fixes_the_output():
    x = images()
    for augment in (lambda g: diff_augment(x, generator=g), lambda g: cr_augment(x, g)):
        assert torch.equal(augment(seeded(3)), augment(seeded(3)))
        assert not torch.equal(augment(seeded(3)), augment(seeded(4)))


def test_unknown_policy_names_the_bad_op_and_the_valid_ones():
    with pytest.raises(ValueError, match=r"'colour'.*color, translation, cutout"):
        diff_augment(images(), policy="colour,cutout")


def test_translation_is_a_zero_filled_integer_shift_of_at_most_an_eighth():
    x = images(b=16, h=16, w=16)
    out = diff_augment(x, policy="translation", generator=seeded(0))
    padded = F.pad(x, (2, 2, 2, 2))  # 16 / 8 = 2
    for i in range(16):
        candidates = [padded[i, :, 2 - ty:18 - ty, 2 - tx:18 - tx] for ty in range(-2, 3) for tx in range(-2, 3)]
        assert any(torch.equal(out[i], c) for c in candidates)
    assert not torch.equal(out, x)


def test_cutout_zeroes_at_most_a_half_size_square_and_nothing_else():
    x = images(b=16, h=8, w=8) + 3.0  # no zeros of its own
    out = diff_augment(x, policy="cutout", generator=seeded(0))
    cut = out == 0
    assert torch.equal(out[~cut], x[~cut])
    assert (cut.all(dim=1) == cut.any(dim=1)).all()  # all channels of a pixel together
    per_sample = cut[:, 0].flatten(1).sum(dim=1)
    assert (per_sample >= 4).all() and (per_sample <= 16).all() and (per_sample == 16).any()


def test_cr_augment_flips_and_shifts_with_reflection():
    x = images(b=16, h=8, w=8)
    out = cr_augment(x, seeded(0))
    for i in range(16):
        found = False
        for src in (x[i], x[i].flip(2)):
            padded = F.pad(src[None], (1, 1, 1, 1), mode="reflect")[0]  # 8 / 8 = 1
            found |= any(torch.equal(out[i], padded[:, 1 - ty:9 - ty, 1 - tx:9 - tx])
                         for ty in range(-1, 2) for tx in range(-1, 2))
        assert found


def synthetic_logits(mean, seed):
    return torch.randn(32, generator=seeded(seed)) + mean


def test_ada_raises_p_when_d_is_sure_of_reals_and_lowers_it_otherwise():
    ada = AdaptiveAugment(target=0.6, interval=4, speed_img=1000)
    for step in range(4):
        ada.observe(synthetic_logits(3.0, step))  # r_t ~ 1 > 0.6: overfitting
        assert ada.p.item() == 0.0  # nothing moves inside an interval
        ada.step(32)
    assert ada.p.item() == pytest.approx(4 * 32 / 1000)
    assert ada.rt.item() > 0.6
    for step in range(8):
        ada.observe(synthetic_logits(-3.0, step))  # r_t ~ -1 < 0.6
        ada.step(32)
    assert ada.p.item() == 0.0  # two decreases from 0.128: clamped at 0


def test_ada_p_is_clamped_to_one_and_works_as_a_diffaugment_probability():
    ada = AdaptiveAugment(interval=1, speed_img=10, p=0.9)
    ada.observe(torch.ones(8))
    ada.step(8)
    assert ada.p.item() == 1.0 and ada.p.ndim == 0
    x = images()
    assert not torch.equal(diff_augment(x, p=ada.p, generator=seeded(0)), x)


def test_ada_state_dict_round_trip_resumes_exactly():
    ada = AdaptiveAugment(interval=3, speed_img=500)
    for step in range(5):  # one update, then stop mid-interval
        ada.observe(synthetic_logits(1.0, step))
        ada.step(16)
    state = ada.state_dict()
    assert ada.p.item() > 0 and (state["calls"], state["count"], state["images"]) == (2, 64, 32)
    resumed = AdaptiveAugment(interval=3, speed_img=500)
    resumed.load_state_dict(state)
    for step in range(5, 12):
        for a in (ada, resumed):
            a.observe(synthetic_logits(-0.2 if step % 2 else 1.0, step))
            a.step(16)
        assert torch.equal(ada.p, resumed.p)
    assert ada.state_dict().keys() == resumed.state_dict().keys()
