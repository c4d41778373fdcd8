"""Live view of a training run: a tqdm bar in the job's log, `train_log.csv` appended as steps
finish, and TensorBoard event files beside it (`tensorboard --logdir results/rm`).

The files are a function of the rows the run has logged: on a (re)start they are rewritten from
the rows the checkpoint holds, so a resumed run continues them with no step missing or repeated
(steps a killed run logged after its last checkpoint are trained again, and logged again).
"""

import csv
import shutil
from pathlib import Path

from tqdm import tqdm

LOG = "train_log.csv"
EVENTS = "tensorboard"
FILES = (LOG, EVENTS)  # what a live run writes into its output folder


def tag(column):
    """The TensorBoard tag of a log column: loss_helpful -> loss/helpful, so sources group."""
    return column.replace("_", "/", 1)


def postfix(row):
    """The bar's summary of a step: loss, accuracy and (MORE) each source's λ."""
    shown = {key: f"{row[key]:.3f}" for key in ("loss", "accuracy") if key in row}
    lam = [f"{value:.2f}" for key, value in row.items() if key.startswith("lambda_")]
    return {**shown, **({"λ": " ".join(lam)} if lam else {})}


class Live:
    """Rank 0 shows the bar and, given a folder, writes the live files into it; other ranks, nothing.
    Rows are written at least every `every` steps (and whenever `flush` is called: at checkpoints)."""

    def __init__(self, folder, rows, total, every, desc, primary=True):
        self.folder = Path(folder) if folder is not None and primary else None
        self.every, self.pending, self.writer, self.columns = every, [], None, None
        if self.folder is not None:
            self._restart(rows)
        self.bar = tqdm(total=total, initial=len(rows), desc=desc, unit="step", disable=not primary, mininterval=5)

    def _restart(self, rows):
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        for name in FILES:
            shutil.rmtree(self.folder / name, ignore_errors=True)
            (self.folder / name).unlink(missing_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(self.folder / EVENTS))
        self.pending = list(rows)
        self._write_pending()
        print(f"live log: {self.folder / LOG}; tensorboard --logdir {self.folder / EVENTS}", flush=True)

    def add(self, row):
        self.pending.append(row)
        self.bar.set_postfix(postfix(row), refresh=False)
        self.bar.update(1)
        if len(self.pending) >= self.every:
            self.flush()

    def _write_pending(self):
        rows, self.pending = self.pending, []
        if self.folder is None or not rows:
            return
        new = self.columns is None
        self.columns = self.columns or list(rows[0])
        with open(self.folder / LOG, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            if new:
                writer.writeheader()
            writer.writerows(rows)
        for row in rows:
            for column, value in row.items():
                if column != "step":
                    self.writer.add_scalar(tag(column), value, row["step"])
        self.writer.flush()

    def flush(self):
        self._write_pending()
        self.bar.refresh()  # a line in the job's log at least this often, whatever tqdm's interval

    def close(self):
        self.flush()
        if self.writer is not None:
            self.writer.close()
        self.bar.close()
