"""The commands that write the archive on disk: `qa add`, `qa rm` and `qa sync`, with a progress bar for long runs."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from qa.base.errors import NotFound
from qa.base.records import Document
from qa.service import files
from qa.service.engine import Engine
from qa.service.submissions import WriteOut
from qa.terminal.commands import UserError, settings_from
from qa.terminal.render import printable

BAR_WIDTH = 30


class Bar:
    """Progress of a run longer than one batch on stderr: redrawn in place on a terminal, a line per batch otherwise."""

    def __init__(self, verb: str, batch: int, stream: TextIO | None = None) -> None:
        self.verb = verb
        self.batch = batch
        self.stream = stream or sys.stderr

    def __call__(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` documents written (nothing when the run is a single batch)."""
        if total <= self.batch:
            return
        filled = round(BAR_WIDTH * done / total)
        line = f"{self.verb} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} documents"
        if self.stream.isatty():
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _warn(skipped: Sequence[str]) -> None:
    """A warning line on stderr per source left out for having no article text."""
    for line in skipped:
        print(f"warning: skipped {printable(line)}", file=sys.stderr)


def _batch(args: argparse.Namespace) -> int:
    """The batch size flag, checked."""
    size: int = args.batch
    if size < 1:
        raise UserError(f"--batch must be at least 1, got {size}")
    return size


def summary(outs: Sequence[WriteOut], removed: int | None = None) -> str:
    """The counts of a write (``removed`` for a sync), then one line per article grouped as a copy of another."""
    counts = Counter(o.status for o in outs)
    copies = [o for o in outs if o.duplicate_of is not None and o.status in ("added", "updated")]
    parts = [f"added {counts['added']}", f"updated {counts['updated']}", f"unchanged {counts['unchanged']}"]
    if removed is not None:
        parts.append(f"removed {removed}")
    parts.append(f"grouped as copies {len(copies)}")
    lines = [", ".join(parts)]
    lines += [
        f"copy {printable(o.id)} of {printable(o.duplicate_of or '')} (kept and cited, not indexed again)"
        for o in copies
    ]
    return "\n".join(lines)


def cmd_add(args: argparse.Namespace) -> int:
    """Read files, folders and JSON Lines files, then write them to the archive in batches; print what changed."""
    size = _batch(args)
    reading = files.read_paths(args.paths)  # every file is read and checked before the model loads
    _warn(reading.skipped)
    if not reading.documents:
        raise UserError("nothing to add: every source was skipped for having no article text")
    engine = files.open_writer(settings_from(args))
    print(summary(files.put_in_batches(engine, reading.documents, size=size, tick=Bar("adding", size))))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    """Delete documents by id in one write (all or none) and print each one deleted."""
    engine = files.open_writer(settings_from(args))
    held = {d.id for d in engine.documents()}
    unknown = [i for i in args.ids if i not in held]
    if unknown:
        raise NotFound(f"no document with id {unknown[0]!r}; nothing was deleted (`qa documents` lists the ids)")
    for out in engine.remove_documents(list(dict.fromkeys(args.ids))):
        print(f"deleted {printable(out.id)}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Make the archive match a folder: add new files, update changed ones, remove the articles of files gone."""
    size = _batch(args)
    files.supported_files(args.folder)  # a missing folder fails before the model loads
    settings = settings_from(args)
    if args.dry_run:  # reads the index without loading the model
        held = Engine.catalogue(settings)
        plan = files.plan_sync(args.folder, held)
        _warn(plan.skipped)
        print(_dry_run(plan, held))
        return 0
    engine = files.open_writer(settings)
    plan = files.plan_sync(args.folder, engine.documents())
    _warn(plan.skipped)
    if plan.removed:
        files.remove_in_batches(engine, plan.removed, size=size, tick=Bar("removing", size))
    outs = files.put_in_batches(engine, plan.documents, size=size, tick=Bar("syncing", size))
    for doc_id in plan.removed:
        print(f"removed {printable(doc_id)}")
    print(summary(outs, removed=len(plan.removed)))
    return 0


def _dry_run(plan: files.SyncPlan, held: Sequence[Document]) -> str:
    """What a sync would change, without writing: one line per document added, updated or removed, then the counts."""
    statuses = files.preview(plan.documents, held)
    verbs = {"added": "add", "updated": "update"}
    lines = [f"would {verbs[s]} {printable(i)}" for i, s in statuses.items() if s in verbs]
    lines += [f"would remove {printable(doc_id)}" for doc_id in plan.removed]
    counts = Counter(statuses.values())
    lines.append(
        f"would add {counts['added']}, update {counts['updated']}, leave {counts['unchanged']} unchanged, "
        f"remove {len(plan.removed)} (dry run: nothing written)"
    )
    return "\n".join(lines)
