"""The golden runs: short CPU runs of every model and of the papers' small experiments,
whose metrics are pinned exactly (``tests/golden/metrics.json``).

Each case is the command line of one run. The shared overrides keep a case to seconds and
make it reproducible to the last bit on one machine: a fixed seed, 200 steps at most, one CPU
thread (a sum over several threads may add in another order), no W&B.
"""

SHARED = [
    "seed=3",
    "device=cpu",
    "device.threads=1",
    "logger=none",
    "data.dataset.train_size=3000",
    "data.dataset.test_size=500",
    "data.val_size=500",
    "data.eval_batch_size=250",
    "trainer.max_steps=200",
    "trainer.log_every=50",
]

CASES: dict[str, list[str]] = {
    "stn": ["model=stn"],
    "cnn": ["model=stn", "model.use_stn=false"],
    "fcn_sgd_rts": ["model=stn", "model.classifier=fcn", "data.distortion=rts"],
    "vae": ["model=vae", "model.importance_samples=20", "model.val_importance_samples=5"],
    "gan": [
        "model=gan",
        "model.parzen_samples=500",
        "model.parzen_val_images=100",
        "model.parzen_batch_size=250",
    ],
    "logreg": ["model=logreg", "optim=adam"],
    "mlp": ["model=mlp", "optim=adam", "model.hidden_sizes=[64,64]"],
    "mlp_options": [
        "model=mlp",
        "optim=adam",
        "model.hidden_sizes=[64,64]",
        "trainer.precision=bf16",
        "trainer.grad_clip=1.0",
        "trainer.accumulate=2",
        "schedule=warmup_cosine",
        "schedule.warmup_steps=10",
    ],
    "logreg_step_schedule": [
        "model=logreg",
        "optim=sgd_nesterov",
        "schedule=step",
        "schedule.step_size=50",
    ],
    "adam_no_bias_correction": [
        "experiment=adam_bias_correction",
        "optim.bias_correction=false",
        "optim.betas=[0.9,0.9999]",
        "model.hidden_sizes=[64]",
    ],
    "adamax_mlp": ["model=mlp", "optim=adamax", "model.hidden_sizes=[64]"],
    "gan_theory": ["experiment=gan_theory", "model.samples_per_step=256"],
    "gan_minimax": [
        "experiment=gan_generator_loss",
        "model.generator_loss=minimax",
        "model.parzen_samples=500",
        "model.parzen_val_images=100",
        "model.parzen_batch_size=250",
    ],
    "vae_paper": ["experiment=vae_paper", "model.importance_samples=10"],
}
