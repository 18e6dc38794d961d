"""A rich progress bar with ETA that follows a Trainer, plus an epoch table."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sthlib.train import Callback, EpochMetrics, StepProgress, Trainer


class RichProgress(Callback):
    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.bar.add_task("training", total=None)

    def on_train_start(self, trainer: Trainer) -> None:
        self.bar.start()

    def on_step_end(self, trainer: Trainer, progress: StepProgress) -> None:
        total = progress.steps * progress.epochs
        done = progress.epoch * progress.steps + progress.step
        self.bar.update(self.task, total=total, completed=done, description=f"epoch {progress.epoch + 1}")

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None:
        reg = "" if metrics.reg_loss is None else f"  reg {metrics.reg_loss:.3f}  corr {metrics.sim_corr or 0:.3f}"
        self.bar.console.log(
            f"epoch {metrics.epoch}: train acc {metrics.train_acc:.4f}  valid loss {metrics.valid_loss:.4f}  "
            f"test acc {metrics.test_acc:.4f}{reg}  ({metrics.images_per_s:.0f} img/s)"
        )

    def on_train_end(self, trainer: Trainer, result: object) -> None:
        self.bar.stop()


def history_table(history: list[EpochMetrics], best_epoch: int) -> Table:
    table = Table(title="history (* = kept checkpoint)")
    for column in ("epoch", "lr", "train acc", "valid loss", "test acc", "reg loss", "sim corr"):
        table.add_column(column, justify="right")

    def fmt(value: float | None, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for m in history:
        table.add_row(
            f"{m.epoch}{'*' if m.epoch == best_epoch else ''}", fmt(m.lr), fmt(m.train_acc), fmt(m.valid_loss),
            fmt(m.test_acc), fmt(m.reg_loss, 3), fmt(m.sim_corr, 3),
        )  # fmt: skip
    return table
