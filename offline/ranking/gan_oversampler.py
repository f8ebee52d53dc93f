"""A small GAN oversampler: learn the minority class's input vectors, then synthesise more.

Generator: noise -> MLP -> a standardised feature vector; discriminator: MLP -> real/fake logit;
the non-saturating GAN loss, Adam. Trained on the (standardised) minority rows only; synthetic
rows are added until the minority/majority ratio reaches ``ratio``. One arm of the ablation; kept
as the default only if it beats the other methods.
"""

from __future__ import annotations

import numpy as np


def gan_oversample(
    x: np.ndarray,
    y: np.ndarray,
    ratio: float,
    epochs: int = 200,
    noise: int = 16,
    hidden: int = 64,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(np.int64)
    pos = x[y == 1]
    n_neg = int((y == 0).sum())
    n_new = int(round(ratio * n_neg)) - len(pos)
    if len(pos) < 2 or n_new <= 0:
        return x.astype(np.float32), y
    mean, std = pos.mean(axis=0), pos.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    real = torch.as_tensor((pos - mean) / std, dtype=torch.float32)
    d = real.shape[1]
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    gen = nn.Sequential(
        nn.Linear(noise, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, d)
    )
    disc = nn.Sequential(
        nn.Linear(d, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),
    )
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.999))
    batch = min(256, len(real))
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    steps_per_epoch = max(1, len(real) // batch)
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            idx = torch.randint(0, len(real), (batch,), generator=g)
            fake = gen(torch.randn(batch, noise, generator=g))
            d_loss = F.binary_cross_entropy_with_logits(
                disc(real[idx]), ones
            ) + F.binary_cross_entropy_with_logits(disc(fake.detach()), zeros)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = F.binary_cross_entropy_with_logits(disc(fake), ones)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
    with torch.no_grad():
        synth = gen(torch.randn(n_new, noise, generator=g)).double().numpy() * std + mean
    x_out = np.concatenate([x, synth]).astype(np.float32)
    y_out = np.concatenate([y, np.ones(n_new, dtype=np.int64)])
    return x_out, y_out
