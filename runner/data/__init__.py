"""The data path: datasets read or generated once, held as tensors, distorted and batched on the device.

``datasets`` (the ``_target_``s of ``conf/data/``) and ``digits`` make the images;
``distortions`` are the STN paper's warps as batched tensor ops; ``splits`` holds out the
validation set and decides which seed distorts which split; ``loader`` draws the batches.
"""
