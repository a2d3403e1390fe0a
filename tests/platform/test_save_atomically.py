"""A checkpoint write that Ctrl-C or a full disk stops raises what stopped it and leaves the
old file whole (runner/platform/files.py)."""

import pytest
import torch

from runner.platform import files


def test_ctrl_c_during_a_write_is_a_keyboard_interrupt_and_the_old_file_stays(
    tmp_path, monkeypatch
):
    path = tmp_path / "last.pt"
    files.save_atomically({"step": 1}, path)
    calls = {"n": 0}
    real_write = files._WriteErrorKeeper.write

    class Interrupted:
        def write(self, data):
            raise KeyboardInterrupt  # Ctrl-C as the file is written

    def interrupted(self, data):
        calls["n"] += 1
        if calls["n"] == 3:  # inside torch's archive writer, which would call it a RuntimeError
            self.file = Interrupted()
        return real_write(self, data)

    monkeypatch.setattr(files._WriteErrorKeeper, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.save_atomically({"step": 2, "weights": torch.zeros(1000)}, path)
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
