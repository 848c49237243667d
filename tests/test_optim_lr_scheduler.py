"""Learning-rate schedules against their formulas, step by step, for 30+ steps."""

import math

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import optim
from deltagrad.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    InverseTimeLR,
    LinearWarmup,
    ReduceLROnPlateau,
    StepLR,
)

BASE_LRS = [0.5, 0.02]  # two groups, so every schedule is checked per group
N_STEPS = 40


def make_optimizer(lrs=BASE_LRS):
    groups = [{"params": [dg.tensor(np.ones(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=1.0)


def lr_sequence(scheduler, n_steps=N_STEPS):
    """The groups' rates before the first step, then after each of ``n_steps`` steps."""
    sequence = [[group["lr"] for group in scheduler.optimizer.param_groups]]
    assert scheduler.get_last_lr() == sequence[0]
    for _ in range(n_steps):
        scheduler.step()
        sequence.append(scheduler.get_last_lr())
        assert sequence[-1] == [group["lr"] for group in scheduler.optimizer.param_groups]
    return np.array(sequence)


def expected_sequence(formula, n_steps=N_STEPS):
    return np.array([[formula(base, t) for base in BASE_LRS] for t in range(n_steps + 1)])


# --- closed-form schedules --------------------------------------------------------------

def test_step_lr():
    got = lr_sequence(StepLR(make_optimizer(), step_size=7, gamma=0.5))
    np.testing.assert_allclose(got, expected_sequence(lambda lr0, t: lr0 * 0.5 ** (t // 7)))
    np.testing.assert_allclose(got[6], BASE_LRS)  # unchanged until step 7 exactly
    np.testing.assert_allclose(got[7], [lr / 2 for lr in BASE_LRS])


def test_step_lr_default_gamma_is_a_tenth():
    got = lr_sequence(StepLR(make_optimizer(), step_size=10))
    np.testing.assert_allclose(got, expected_sequence(lambda lr0, t: lr0 * 0.1 ** (t // 10)))


def test_exponential_lr():
    got = lr_sequence(ExponentialLR(make_optimizer(), gamma=0.9))
    np.testing.assert_allclose(got, expected_sequence(lambda lr0, t: lr0 * 0.9 ** t), rtol=1e-12)


def test_cosine_annealing_is_periodic_past_t_max():
    t_max, eta_min = 10, 0.001
    got = lr_sequence(CosineAnnealingLR(make_optimizer(), T_max=t_max, eta_min=eta_min))

    def cosine(lr0, t):
        return eta_min + (lr0 - eta_min) * (1 + math.cos(math.pi * t / t_max)) / 2

    np.testing.assert_allclose(got, expected_sequence(cosine), rtol=1e-12)
    np.testing.assert_allclose(got[t_max], [eta_min, eta_min])  # the bottom at T_max
    np.testing.assert_allclose(got[2 * t_max], BASE_LRS)  # back to the top at 2 T_max
    np.testing.assert_allclose(got[3 * t_max], [eta_min, eta_min])
    np.testing.assert_allclose(got[t_max + 3], got[t_max - 3])  # symmetric about T_max
    assert np.all(np.diff(got[:t_max + 1, 0]) < 0)
    assert np.all(np.diff(got[t_max:2 * t_max + 1, 0]) > 0)


def test_inverse_time_counts_on_from_an_explicit_t():
    opt = make_optimizer()
    scheduler = InverseTimeLR(opt, power_t=0.25)
    np.testing.assert_allclose(scheduler.get_last_lr(), BASE_LRS)
    got, expected = [], []
    for t in range(1, 6):  # plain steps: t = 1, 2, ...
        scheduler.step()
        got.append(scheduler.get_last_lr())
        expected.append([lr0 / (t + 1) ** 0.25 for lr0 in BASE_LRS])
    scheduler.step(t=1000)  # e.g. the number of samples seen
    got.append(scheduler.get_last_lr())
    expected.append([lr0 / 1001 ** 0.25 for lr0 in BASE_LRS])
    for t in range(1001, 1031):  # later plain steps count on from 1000
        scheduler.step()
        got.append(scheduler.get_last_lr())
        expected.append([lr0 / (t + 1) ** 0.25 for lr0 in BASE_LRS])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert [group["lr"] for group in opt.param_groups] == got[-1]


def test_inverse_time_default_power_is_one_half_as_scikit_learn():
    got = lr_sequence(InverseTimeLR(make_optimizer()))
    np.testing.assert_allclose(got, expected_sequence(lambda lr0, t: lr0 / math.sqrt(t + 1)))


def test_linear_warmup_rises_in_equal_increments_then_stays():
    got = lr_sequence(LinearWarmup(make_optimizer(), warmup_steps=8, start_factor=0.2))

    def warmup(lr0, t):
        return lr0 * (0.2 + 0.8 * min(t, 8) / 8)

    np.testing.assert_allclose(got, expected_sequence(warmup), rtol=1e-12)
    np.testing.assert_allclose(got[0], [0.2 * lr for lr in BASE_LRS])
    increments = np.diff(got[:9], axis=0)
    np.testing.assert_allclose(increments, np.broadcast_to(increments[0], increments.shape))
    np.testing.assert_allclose(got[8:], np.broadcast_to(BASE_LRS, got[8:].shape))


def test_linear_warmup_defaults_and_no_warmup():
    got = lr_sequence(LinearWarmup(make_optimizer(), warmup_steps=3))
    np.testing.assert_allclose(got[:4, 0], [0.05, 0.2, 0.35, 0.5])
    got = lr_sequence(LinearWarmup(make_optimizer(), warmup_steps=0), n_steps=3)
    np.testing.assert_allclose(got, np.broadcast_to(BASE_LRS, got.shape))


def test_the_scheduled_rate_is_the_one_the_optimizer_steps_with():
    w = dg.tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    scheduler = StepLR(opt, step_size=2, gamma=0.5)
    position = 0.0
    for epoch in range(6):
        w.grad = np.ones(1)
        opt.step()
        position -= 0.5 ** (epoch // 2)
        np.testing.assert_allclose(w.data, [position])
        scheduler.step()


def test_get_last_lr_is_a_copy():
    scheduler = ExponentialLR(make_optimizer(), gamma=0.5)
    scheduler.get_last_lr().append(99)
    assert scheduler.get_last_lr() == BASE_LRS


@pytest.mark.parametrize("make", [
    lambda opt: StepLR(opt, step_size=3, gamma=0.3),
    lambda opt: ExponentialLR(opt, gamma=0.95),
    lambda opt: CosineAnnealingLR(opt, T_max=7, eta_min=0.01),
    lambda opt: InverseTimeLR(opt, power_t=0.7),
    lambda opt: LinearWarmup(opt, warmup_steps=12, start_factor=0.05),
], ids=["step", "exponential", "cosine", "inverse_time", "warmup"])
def test_closed_form_state_dict_round_trip(make):
    opt = make_optimizer()
    scheduler = make(opt)
    for _ in range(9):
        scheduler.step()
    saved_opt, saved = opt.state_dict(), scheduler.state_dict()
    assert saved["last_epoch"] == 9 and saved["base_lrs"] == BASE_LRS
    expected = lr_sequence(scheduler, n_steps=10)

    fresh_opt = make_optimizer([7.0, 7.0])
    fresh = make(fresh_opt)
    fresh.load_state_dict(saved)  # loaded before the optimizer: the rate is still right
    assert fresh.get_last_lr() == expected[0].tolist()
    fresh_opt.load_state_dict(saved_opt)
    np.testing.assert_array_equal(lr_sequence(fresh, n_steps=10), expected)


def test_closed_form_load_rejects_another_number_of_groups():
    saved = StepLR(make_optimizer(), step_size=2).state_dict()
    with pytest.raises(ValueError, match="2 learning rates but the optimizer has 1"):
        StepLR(make_optimizer([0.1]), step_size=2).load_state_dict(saved)
    with pytest.raises(ValueError, match="missing entries"):
        StepLR(make_optimizer(), step_size=2).load_state_dict({"last_epoch": 3})


# --- ReduceLROnPlateau (hand-worked sequences of PyTorch's rules) -----------------------

def plateau_sequence(metrics, lr=1.0, **options):
    opt = make_optimizer([lr])
    scheduler = ReduceLROnPlateau(opt, **options)
    sequence = []
    for metric in metrics:
        scheduler.step(metric)
        sequence.append(scheduler.get_last_lr()[0])
        assert sequence[-1] == opt.param_groups[0]["lr"]
    return sequence


def test_plateau_min_mode_patience():
    # best=10, then three epochs without improvement: the third exceeds patience 2
    metrics = [10, 10, 10, 10, 9, 9, 9, 9, 8, 9, 9, 9]
    expected = [1, 1, 1, .5, .5, .5, .5, .25, .25, .25, .25, .125]
    got = plateau_sequence(metrics, mode="min", factor=0.5, patience=2)
    np.testing.assert_allclose(got, expected)


def test_plateau_max_mode_patience():
    # best 0.6 at epoch 2, misses at 3-5 drop the rate at 5; best 0.7 at 6; 0.65 and two
    # repeats of 0.7 (not above 0.7 * 1.0001) miss, dropping it again at 9
    metrics = [0.5, 0.6, 0.6, 0.6, 0.6, 0.7, 0.65, 0.7, 0.7, 0.8]
    expected = [1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01]
    got = plateau_sequence(metrics, mode="max", patience=2)
    np.testing.assert_allclose(got, expected)


def test_plateau_default_patience_is_ten():
    got = plateau_sequence([1.0] * 13)
    np.testing.assert_allclose(got, [1.0] * 11 + [0.1, 0.1])


@pytest.mark.parametrize("mode, threshold_mode, metrics", [
    # best is 10 (min) or 10 (max); each following metric misses the threshold but one
    ("min", "rel", [10, 9.5, 9.1, 9.0001, 8.9, 8.1]),  # needs < best * 0.9
    ("min", "abs", [10, 9.6, 9.51, 9.5, 9.4, 8.95]),  # needs < best - 0.5
    ("max", "rel", [10, 10.5, 10.9, 10.9999, 11.1, 12.1]),  # needs > best * 1.1
    ("max", "abs", [10, 10.4, 10.49, 10.5, 10.6, 11.05]),  # needs > best + 0.5
])
def test_plateau_threshold_modes(mode, threshold_mode, metrics):
    threshold = 0.1 if threshold_mode == "rel" else 0.5
    # patience 2: three misses (epochs 2-4) drop the rate at epoch 4; epoch 5 improves on
    # the best of epoch 1 by more than the threshold; epoch 6 misses it (relative to epoch 5)
    got = plateau_sequence(metrics, mode=mode, threshold_mode=threshold_mode,
                           threshold=threshold, factor=0.5, patience=2)
    np.testing.assert_allclose(got, [1, 1, 1, .5, .5, .5])
    # with no threshold every one of those metrics is an improvement
    got = plateau_sequence(metrics, mode=mode, threshold_mode=threshold_mode,
                           threshold=0.0, factor=0.5, patience=0)
    np.testing.assert_allclose(got, [1] * 6)


def test_plateau_cooldown_ignores_bad_epochs_after_a_drop():
    # patience 0: every bad epoch outside cooldown drops the rate; cooldown 2 then skips
    # two epochs, so with a flat metric the rate halves every third epoch
    got = plateau_sequence([1.0] * 11, factor=0.5, patience=0, cooldown=2)
    np.testing.assert_allclose(got, [1, .5, .5, .5, .25, .25, .25, .125, .125, .125, .0625])


def test_plateau_cooldown_in_max_mode_with_patience():
    metrics = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    # epochs 2-3 bad -> drop at 3; cooldown 1 skips epoch 4; epochs 5-6 bad -> drop at 6
    got = plateau_sequence(metrics, mode="max", factor=0.5, patience=1, cooldown=1)
    np.testing.assert_allclose(got, [1, 1, .5, .5, .5, .25, .25, .25, .125, .125])


@pytest.mark.parametrize("mode", ["min", "max"])
def test_plateau_min_lr_floor(mode):
    got = plateau_sequence([3.0] * 6, mode=mode, patience=0, min_lr=0.05)
    np.testing.assert_allclose(got, [1, 0.1, 0.05, 0.05, 0.05, 0.05])


def test_plateau_relative_threshold_scales_a_negative_best_as_pytorch_does():
    # "rel" compares with best * (1 + threshold) in max mode: for a negative best that
    # bound is lower than best, so a flat negative metric keeps counting as an improvement
    got = plateau_sequence([-3.0] * 4, mode="max", patience=0)
    np.testing.assert_allclose(got, [1, 1, 1, 1])
    got = plateau_sequence([-3.0] * 4, mode="max", threshold_mode="abs", patience=0)
    np.testing.assert_allclose(got, [1, 0.1, 0.01, 0.001])


def test_plateau_min_lr_per_group():
    opt = make_optimizer([1.0, 0.5])
    scheduler = ReduceLROnPlateau(opt, mode="max", patience=0, min_lr=[0.05, 0.2])
    got = []
    for _ in range(4):
        scheduler.step(0.0)
        got.append(scheduler.get_last_lr())
    np.testing.assert_allclose(got, [[1.0, 0.5], [0.1, 0.2], [0.05, 0.2], [0.05, 0.2]])


def test_plateau_skips_changes_smaller_than_eps():
    got = plateau_sequence([1.0] * 4, lr=1e-8, factor=0.5, patience=0)
    np.testing.assert_allclose(got, [1e-8] * 4)  # 1e-8 - 5e-9 is not more than eps=1e-8
    got = plateau_sequence([1.0] * 3, lr=1e-8, factor=0.5, patience=0, eps=1e-10)
    np.testing.assert_allclose(got, [1e-8, 5e-9, 2.5e-9])


def test_plateau_nan_metric_counts_as_bad_and_tensors_are_accepted():
    got = plateau_sequence([1.0, math.nan, math.nan], patience=1)
    np.testing.assert_allclose(got, [1, 1, 0.1])
    got = plateau_sequence([dg.tensor(2.0), dg.tensor([1.0]), np.float32(1.0)], patience=0)
    np.testing.assert_allclose(got, [1, 1, 0.1])


def test_plateau_state_dict_round_trip():
    opt = make_optimizer()
    scheduler = ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1)
    rng = np.random.default_rng(0)
    metrics = rng.random(40) + np.linspace(1, 0, 40) ** 2
    for metric in metrics[:15]:
        scheduler.step(metric)
    saved_opt, saved = opt.state_dict(), scheduler.state_dict()
    assert isinstance(saved["best"], float) and saved["last_epoch"] == 15

    fresh_opt = make_optimizer([9.0, 9.0])
    fresh = ReduceLROnPlateau(fresh_opt)
    fresh.load_state_dict(saved)
    fresh_opt.load_state_dict(saved_opt)
    assert fresh.get_last_lr() == scheduler.get_last_lr()
    for metric in metrics[15:]:
        scheduler.step(metric)
        fresh.step(metric)
        assert fresh.get_last_lr() == scheduler.get_last_lr()
        assert fresh.num_bad_epochs == scheduler.num_bad_epochs


# --- validation -------------------------------------------------------------------------

@pytest.mark.parametrize("make, error, match", [
    (lambda opt: StepLR(opt, step_size=0), ValueError, "Invalid step_size value: 0"),
    (lambda opt: StepLR(opt, step_size=2.5), TypeError, "step_size must be an integer"),
    (lambda opt: StepLR(opt, step_size=2, gamma=-0.1), ValueError, "Invalid gamma value"),
    (lambda opt: ExponentialLR(opt, gamma=0.0), ValueError, "Invalid gamma value: 0.0"),
    (lambda opt: CosineAnnealingLR(opt, T_max=0), ValueError, "Invalid T_max value: 0"),
    (lambda opt: CosineAnnealingLR(opt, T_max=5, eta_min=-1.0), ValueError, "Invalid eta_min"),
    (lambda opt: InverseTimeLR(opt, power_t=-0.5), ValueError, "Invalid power_t value"),
    (lambda opt: InverseTimeLR(opt).step(t=-1), ValueError, "Invalid t value: -1"),
    (lambda opt: LinearWarmup(opt, warmup_steps=-1), ValueError, "Invalid warmup_steps"),
    (lambda opt: LinearWarmup(opt, warmup_steps=5, start_factor=1.5), ValueError,
     "Invalid start_factor value: 1.5"),
    (lambda opt: ReduceLROnPlateau(opt, mode="avg"), ValueError, "Invalid mode value: 'avg'"),
    (lambda opt: ReduceLROnPlateau(opt, threshold_mode="pct"), ValueError,
     "Invalid threshold_mode"),
    (lambda opt: ReduceLROnPlateau(opt, factor=1.0), ValueError, "Invalid factor value: 1.0"),
    (lambda opt: ReduceLROnPlateau(opt, patience=-1), ValueError, "Invalid patience value"),
    (lambda opt: ReduceLROnPlateau(opt, cooldown=-1), ValueError, "Invalid cooldown value"),
    (lambda opt: ReduceLROnPlateau(opt, threshold=-1e-4), ValueError, "Invalid threshold"),
    (lambda opt: ReduceLROnPlateau(opt, min_lr=-1.0), ValueError, "Invalid min_lr value"),
    (lambda opt: ReduceLROnPlateau(opt, min_lr=[0.1]), ValueError,
     "min_lr has 1 values but the optimizer has 2"),
    (lambda opt: ReduceLROnPlateau(opt).step("low"), TypeError, "metric must be a number"),
    (lambda opt: StepLR("not an optimizer", step_size=2), TypeError, "expected an Optimizer"),
    (lambda opt: ReduceLROnPlateau(None), TypeError, "expected an Optimizer"),
])
def test_bad_scheduler_arguments_are_rejected(make, error, match):
    with pytest.raises(error, match=match):
        make(make_optimizer())
