"""The NASWOT zero-cost proxy, and the evolution sampler's screen that drops hopeless
candidates before any training."""

from __future__ import annotations

import math

import torch
from torch import nn

from accelml.vision.evolution import SCREEN_DRAWS, RegularizedEvolution
from accelml.vision.network import build_network
from accelml.vision.proxy import NaswotScreen, naswot_score
from accelml.vision.space import image_space, seed_architectures
from tests.vision._digits import SHAPE, digits

IMAGES = digits()[0][:200].reshape(-1, 8, 8, 1)


def test_distinct_activation_patterns_score_higher_than_dead_units() -> None:
    torch.manual_seed(0)
    x = torch.randn(16, 1, 8, 8)
    alive = build_network({**seed_architectures(SHAPE)[0], "resolution": 8}, 1, 10)
    dead = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3),
                         nn.ReLU())
    for module in dead:
        if isinstance(module, nn.Conv2d):
            nn.init.zeros_(module.weight)
            nn.init.constant_(module.bias, -1.0)  # every unit off for every image
    good = naswot_score(alive, x)
    assert math.isfinite(good)
    assert naswot_score(dead, x) < good


def test_screen_scores_configs_of_the_space_repeatably() -> None:
    screen = NaswotScreen(IMAGES, n_classes=10, seed=0)
    config = {**seed_architectures(SHAPE)[0], "resolution": 8}
    first = screen(config)
    assert math.isfinite(first) and screen(config) == first
    sampler = RegularizedEvolution(image_space(200, SHAPE), seed=0)
    for _ in range(3):  # random configs of the space all build and score
        _, config = sampler.ask()
        assert isinstance(screen(config), float)


def test_hopeless_candidates_are_redrawn() -> None:
    space = image_space(200, SHAPE)
    scores = iter([5.0, 6.0, 7.0, 8.0, -1.0, -2.0, 9.0])  # seeds, then two hopeless draws

    def screen(config: dict) -> float:  # noqa: ARG001
        return next(scores)

    sampler = RegularizedEvolution(space, seed=0, screen=screen)
    for seed in seed_architectures(SHAPE)[:4]:
        sampler.ask(enqueue=seed)
    _, config = sampler.ask()
    assert sampler.rejected == 2
    assert sampler.proxy_scores[-1] == 9.0
    assert set(config) == set(space)


def test_when_every_draw_is_hopeless_the_best_is_kept() -> None:
    space = image_space(200, SHAPE)
    values = [10.0] * 4 + [-float(i) for i in range(1, SCREEN_DRAWS + 1)]
    scores = iter(values)
    sampler = RegularizedEvolution(space, seed=0, screen=lambda config: next(scores))
    for seed in seed_architectures(SHAPE)[:4]:
        sampler.ask(enqueue=seed)
    sampler.ask()
    assert sampler.rejected == SCREEN_DRAWS
