"""The ``mlvc stage`` verbs: ``stage_add`` writes a stage into mlvc.yaml (checked as the
whole file is when read), ``stage_list`` gives the stages as defined (templates expanded)."""

from __future__ import annotations

import os
import shlex

from mlvc.errors import FileFormatError, MlvcError, UsageError
from mlvc.formats.project import parse_project, read_project, serialize_project
from mlvc.ops.targets import save, writing
from mlvc.pipeline.params import DEFAULT_PARAMS
from mlvc.pipeline.stage import NAME, Out, ParamRef, Stage, join, load_pipeline, stage_data
from mlvc.repo import Repo
from mlvc.scm import git_tracked


def _wdir(repo: Repo, wdir: str | None, cwd: str | None) -> str:
    here = os.path.relpath(os.path.realpath(cwd or os.getcwd()), os.path.realpath(repo.root)).replace(os.sep, "/")
    rel = join("" if here == "." else here, wdir or ".")
    if rel == ".." or rel.startswith("../"):
        raise UsageError(f"wdir {wdir!r} is outside the repository")
    return "" if rel == "." else rel


def parse_param_option(value: str, wdir: str) -> ParamRef:
    """``-p KEY`` (in params.yaml), ``-p FILE:KEY,KEY`` or ``-p FILE:`` (every key of FILE)."""
    path, colon, keys = value.rpartition(":")
    if not colon:
        return ParamRef(join(wdir, DEFAULT_PARAMS), tuple(k.strip() for k in value.split(",") if k.strip()))
    return ParamRef(join(wdir, path), tuple(k.strip() for k in keys.split(",") if k.strip()))


def stage_add(repo: Repo, name: str, cmd: list[str], deps: list[str] = (), outs: list[str] = (),
              outs_no_cache: list[str] = (), params: list[str] = (), metrics: list[str] = (),
              wdir: str | None = None, force: bool = False, cwd: str | None = None) -> Stage:
    """Write the stage ``name`` into mlvc.yaml; refuse what reading the file would refuse."""
    if not NAME.fullmatch(name):
        raise UsageError(f"stage name {name!r} is not a plain identifier",
                         "use letters, digits, '_' and '-', starting with a letter or '_'")
    if not cmd or not " ".join(cmd).strip():
        raise UsageError("no command given", "name the command after the options: mlvc stage add NAME -o OUT -- CMD")
    if isinstance(cmd, str):
        cmd = [cmd]
    wd = _wdir(repo, wdir, cwd)
    refs: dict[str, list[str]] = {}
    for p in params:
        ref = parse_param_option(p, wd)
        refs.setdefault(ref.file, [])
        if ref.keys:
            refs[ref.file].extend(k for k in ref.keys if k not in refs[ref.file])
    stage = Stage(
        name, shlex.join(cmd) if len(cmd) > 1 else cmd[0],  # each word as typed; one word: a shell line
        tuple(join(wd, d) for d in dict.fromkeys(deps)),
        tuple(ParamRef(f, tuple(k)) for f, k in refs.items()),
        tuple([Out(join(wd, o)) for o in outs] + [Out(join(wd, o), cache=False) for o in outs_no_cache]
              + [Out(join(wd, m), cache=False, metric=True) for m in metrics]),
        wd)
    with writing(repo) as (project, lock):
        if name in project.stages and not force:
            raise MlvcError(f"stage {name!r} already exists in mlvc.yaml", "--force replaces it")
        stages = dict(project.stages)
        stages[name] = stage_data(stage)
        project.stages = stages
        text = serialize_project(project, over=project.text)
        try:
            pipeline = load_pipeline(repo.root, parse_project(text))
        except FileFormatError as exc:  # its line is of a file not yet written
            raise MlvcError(exc.problem, exc.hint) from None
        written = pipeline.stages[name]
        tracked = git_tracked(repo.root, list(written.cached_outs))
        if tracked:
            first = sorted(tracked)[0]
            raise MlvcError(f"out {first!r} is tracked by git", f"stop tracking it in git first: "
                            f"`git rm -r --cached {first}`, or make it an out with -O (not cached)")
        save(repo, project, None)
        return written


def stage_list(repo: Repo, cwd: str | None = None) -> list[Stage]:
    """Every stage of mlvc.yaml, in its order, with foreach and matrix expanded."""
    return list(load_pipeline(repo.root, read_project(repo.root)).stages.values())

